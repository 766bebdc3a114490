"""What the audit's backdoor check reads beside Neural Cleanse: STRIP on the test inputs, and
activation clustering and spectral signatures on the training data.

- **STRIP** (Gao et al., ACSAC 2019; :class:`toolkit.detectors.strip.STRIP`): clean
  training images are blended into each test input and the mean prediction entropy is
  taken; a triggered input keeps its prediction (low entropy). The threshold is the ``frr``
  (1%) quantile of the entropy of held-out clean training images (STRIP's false rejection
  rate), and the share of test inputs below it is reported. On a clean test split it is
  near ``frr``; a share above ``3 * frr`` (and at least 5 inputs) says the test split may
  carry triggered inputs: the check warns at least.
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
    model: nn.Module, train: torch.Tensor, test: torch.Tensor, *, seed: int = 0, samples: int = 1000,
    frr: float = 0.01, device: Any = "cpu", batch_size: int = 256,
) -> dict[str, Any]:  # fmt: skip
    """STRIP's entropy on up to ``samples`` test images, thresholded at the ``frr`` quantile
    of held-out clean training images; ``flagged_share`` and ``suspicious`` (above ``3 * frr``)."""
    from toolkit.detectors.strip import STRIP
    from toolkit.outputs import Outputs

    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=g)
    held, pool = order[: min(500, len(train) // 2)], order[min(500, len(train) // 2) :]
    picked = torch.randperm(len(test), generator=g)[:samples].sort().values
    detector = STRIP(seed=seed).fit(model, Outputs(model, train[pool], device=device, batch_size=batch_size))
    clean = detector.score(model, Outputs(model, train[held], device=device, batch_size=batch_size))
    scores = detector.score(model, Outputs(model, test[picked], device=device, batch_size=batch_size))
    threshold = float(torch.quantile(clean.double(), frr))
    flagged = int((scores < threshold).sum())
    share = flagged / max(len(scores), 1)
    return {"n": len(scores), "threshold": threshold, "frr": frr, "flagged": flagged, "flagged_share": share,
            "suspicious": bool(share > 3 * frr and flagged >= 5),
            "entropy_mean": float(scores.mean()), "clean_entropy_mean": float(clean.mean())}  # fmt: skip


def training_screen(
    features: np.ndarray, labels: np.ndarray, names: list[str], *, seed: int = 0
) -> dict[str, Any]:
    """Per class: activation clustering's smaller cluster (share, silhouette) and the spectral
    signature's top-direction share of the variance."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    out: dict[str, Any] = {}
    for c, name in enumerate(names):
        rows = features[labels == c].astype(np.float64)
        if len(rows) < 10:
            continue
        centred = rows - rows.mean(axis=0)
        singular = np.linalg.svd(centred, compute_uv=False)
        top = float(singular[0] ** 2 / max((singular**2).sum(), 1e-12))
        dims = min(10, rows.shape[1], len(rows) - 1)
        reduced = PCA(n_components=dims, random_state=seed).fit_transform(rows)
        assigned = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(reduced)
        sizes = np.bincount(assigned, minlength=2) / len(rows)
        split = len(set(assigned.tolist())) == 2
        out[name] = {"n": len(rows), "small_cluster_share": float(sizes.min()),
                     "silhouette": float(silhouette_score(reduced, assigned)) if split else float("nan"),
                     "top_direction_share": top}  # fmt: skip
    return out


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
