"""What the audit's backdoor check reads beside Neural Cleanse: STRIP on the test inputs, and
activation clustering and spectral signatures on the training data.

- **STRIP** (Gao et al., ACSAC 2019; :class:`toolkit.detectors.strip.STRIP`): training
  images are blended into each test input and the mean prediction entropy is taken; a
  triggered input keeps its prediction (low entropy). The threshold aims at a false
  rejection rate ``frr`` (1%) on 500 held-out training images, robustly: the median of their
  entropy minus ``z_(1-frr)`` robust standard deviations (1.4826 times the median absolute
  deviation; the 1% quantile of a normal distribution), so that poisoned training images,
  which the check suspects, cannot drag the threshold into their own low tail as they would
  a plain quantile. Entropies have a heavier low tail than a normal distribution: on clean
  test inputs the share flagged is 1% to 3% (2.6% on the quickstart's digits, 2.7% on the
  CIFAR-10 subset). A share above ``5 * frr`` (and at least 5 inputs) says the test split
  may carry triggered inputs: the check warns at least.
- **Training data** (the model's penultimate features of the training split, per class):
  activation clustering (Chen et al. 2018; PCA to 10 dimensions, two k-means clusters: the
  smaller cluster's share and its silhouette score) and spectral signatures (Tran et al.
  2018: the share of the class's variance along its top singular direction). A backdoor
  target class tends to split off a small, well-separated cluster with a strong top
  direction; clean classes can too, so these numbers are for inspection and change no
  verdict. The backdoor task measures them against known poisons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toolkit.results import Table

if TYPE_CHECKING:
    from torch import nn

__all__ = ["strip_screen", "training_screen"]


def strip_screen(
    model: nn.Module, train: Any, test: Any, *, seed: int = 0, samples: int = 1000, frr: float = 0.01,
    device: Any = "cpu", batch_size: int = 256,
) -> dict[str, Any]:  # fmt: skip
    """STRIP's entropy on up to ``samples`` of the ``test`` images, thresholded for a false
    rejection rate ``frr`` on held-out ``train`` images (both stored inputs or model inputs);
    ``flagged_share`` and ``suspicious`` (above ``5 * frr``)."""
    from scipy.stats import norm

    from toolkit.data.inputs import num_samples, take, to_model_input
    from toolkit.detectors.strip import STRIP
    from toolkit.outputs import Outputs

    g = torch.Generator().manual_seed(seed)
    n_train = num_samples(train)
    order = torch.randperm(n_train, generator=g)
    cut = min(500, n_train // 2)
    held, pool = order[:cut].sort().values, order[cut : cut + 1000].sort().values  # STRIP keeps 1000
    picked = torch.randperm(num_samples(test), generator=g)[:samples].sort().values

    def outputs(x: Any, index: torch.Tensor) -> Outputs:
        return Outputs(model, to_model_input(take(x, index)), device=device, batch_size=batch_size)

    detector = STRIP(seed=seed).fit(model, outputs(train, pool))
    clean = detector.score(model, outputs(train, held)).double()
    scores = detector.score(model, outputs(test, picked))
    median = clean.median()
    spread = 1.4826 * (clean - median).abs().median()
    threshold = float(median - norm.ppf(1 - frr) * spread)
    flagged = int((scores < threshold).sum())
    share = flagged / max(len(scores), 1)
    return {"n": len(scores), "threshold": threshold, "frr": frr, "flagged": flagged, "flagged_share": share,
            "suspicious": bool(share > 5 * frr and flagged >= 5),
            "entropy_mean": float(scores.mean()), "clean_entropy_mean": float(clean.mean())}  # fmt: skip


def training_screen(
    features: np.ndarray, labels: np.ndarray, names: list[str], *, seed: int = 0
) -> dict[str, Any]:
    """Per class: activation clustering's smaller cluster (share, silhouette) and the spectral
    signature's top-direction share of the variance."""
    from sklearn.cluster import KMeans

    from toolkit.defenses.poison_scores import reduce_features

    out: dict[str, Any] = {}
    for c, name in enumerate(names):
        rows = features[labels == c].astype(np.float64)
        if len(rows) < 10:
            continue
        centred = rows - rows.mean(axis=0)
        singular = np.linalg.svd(centred, compute_uv=False)
        top = float(singular[0] ** 2 / max((singular**2).sum(), 1e-12))
        reduced = reduce_features(rows, "pca", 10, seed)  # as activation clustering reduces
        assigned = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(reduced)
        sizes = np.bincount(assigned, minlength=2) / len(rows)
        split = len(set(assigned.tolist())) == 2
        out[name] = {"n": len(rows), "small_cluster_share": float(sizes.min()),
                     "silhouette": _silhouette(reduced, assigned, seed) if split else float("nan"),
                     "top_direction_share": top}  # fmt: skip
    return out


def _silhouette(x: np.ndarray, assigned: np.ndarray, seed: int) -> float:
    """The silhouette score (on a seeded 2,000 samples at most: it costs the square of them)."""
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(x, assigned, sample_size=min(len(x), 2000), random_state=seed))


def tables(strip: dict[str, Any] | None, screen: dict[str, Any] | None) -> list[Table]:
    """The report's tables of both screens (those that ran)."""
    out = []
    if strip is not None:
        out.append(Table(
            f"STRIP on {strip['n']} test inputs (threshold: the {strip['frr']:.0%} quantile of clean "
            "training images' entropy)",
            ["test inputs flagged", "share", "expected on clean inputs", "mean entropy (test)",
             "mean entropy (clean training)"],
            [[strip["flagged"], strip["flagged_share"], strip["frr"], strip["entropy_mean"],
              strip["clean_entropy_mean"]]],
        ))  # fmt: skip
    if screen:
        out.append(Table(
            "Training data per class (for inspection: activation clustering, Chen et al. 2018; spectral "
            "signatures, Tran et al. 2018)",
            ["class", "samples", "smaller cluster's share", "silhouette",
             "top direction's share of variance"],
            [[k, v["n"], v["small_cluster_share"], v["silhouette"], v["top_direction_share"]]
             for k, v in screen.items()],
        ))  # fmt: skip
    return out
