"""Per-class statistics of training representations that expose poisoned samples.

Both work class by class on the representations ``R`` (``(N, F)``, usually the penultimate
features of the model trained on the poisoned data) of the samples labelled with that
class, since a backdoor's poisons all carry the target label but look like their source
class to the network.

- :func:`spectral_outlier_scores` (Tran, Li & Madry, "Spectral Signatures in Backdoor
  Attacks", NeurIPS 2018): centre ``R_c``, take its top right singular vector ``v``; the
  score of sample ``i`` is ``((R_i - mean(R_c)) . v)^2``.
- :func:`activation_clusters` (Chen et al., "Detecting Backdoor Attacks on Deep Neural
  Networks by Activation Clustering", 2018): reduce ``R_c`` to ``dims`` dimensions with PCA
  or ICA (the paper's), split it into two clusters with k-means; a cluster holding less
  than ``size_threshold`` of the class is poisoned.

Both use scikit-learn (SVD through NumPy, FastICA, PCA, KMeans) and are seeded.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np


def flag_scores(flags: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How boolean ``flags`` find the ``truth`` (the poisoned samples): ``flagged``,
    ``true_positives``, ``precision`` and ``recall`` (NaN where undefined)."""
    hits = int((flags & truth).sum())
    return {
        "flagged": int(flags.sum()),
        "true_positives": hits,
        "precision": hits / int(flags.sum()) if flags.any() else float("nan"),
        "recall": hits / int(truth.sum()) if truth.any() else float("nan"),
    }


def spectral_outlier_scores(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The spectral-signature outlier score of every sample, computed within its class."""
    scores = np.zeros(len(labels), dtype=np.float64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        rows = features[idx].astype(np.float64)
        centred = rows - rows.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        scores[idx] = (centred @ vt[0]) ** 2
    return scores


def spectral_flags(
    features: np.ndarray, labels: np.ndarray, *, expected_rate: float, multiplier: float
) -> np.ndarray:
    """Flag, in each class, the ``ceil(multiplier * expected_rate * n_c)`` highest scores."""
    scores = spectral_outlier_scores(features, labels)
    flags = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = min(len(idx), math.ceil(multiplier * expected_rate * len(idx) - 1e-9))  # 1.5 * 0.1 * 200 is 30
        if k:
            flags[idx[np.argsort(-scores[idx], kind="stable")[:k]]] = True
    return flags


def activation_clusters(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    reduce: Literal["ica", "pca", "none"],
    dims: int,
    clusters: int,
    size_threshold: float,
    seed: int,
) -> np.ndarray:
    """Flag the samples in clusters smaller than ``size_threshold`` of their class."""
    from sklearn.cluster import KMeans

    flags = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < max(clusters, 2) * 2:
            continue
        reduced = reduce_features(features[idx].astype(np.float64), reduce, dims, seed)
        assigned = KMeans(n_clusters=clusters, n_init=10, random_state=seed).fit_predict(reduced)
        sizes = np.bincount(assigned, minlength=clusters) / len(idx)
        flags[idx] = sizes[assigned] < size_threshold
    return flags


def reduce_features(x: np.ndarray, how: str, dims: int, seed: int) -> np.ndarray:
    """``x`` reduced to at most ``dims`` dimensions (and fewer than its rows) with ``pca`` or
    ``ica`` (seeded), or unchanged (``none``, or already that small)."""
    dims = min(dims, x.shape[1], len(x) - 1)
    if how == "none" or dims >= x.shape[1]:
        return x
    if how == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=dims, random_state=seed).fit_transform(x)
    import warnings

    from sklearn.decomposition import FastICA

    with warnings.catch_warnings():  # FastICA warns when it stops at max_iter; the clusters still form
        warnings.simplefilter("ignore")
        return FastICA(
            n_components=dims, random_state=seed, max_iter=400, whiten="unit-variance"
        ).fit_transform(x)
