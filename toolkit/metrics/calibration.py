"""Calibration of a classifier's probabilities: do 80%-confident predictions come true 80% of
the time?

With ``p`` the predicted class probabilities (``softmax`` of the logits), ``y`` the labels,
``N`` samples and ``M`` equal-width confidence bins ``I_m = ((m - 1) / M, m / M]``:

- ``ece`` (top-label expected calibration error; Naeini et al. 2015, Guo et al. 2017): with
  ``conf_i = max_k p_ik`` and ``B_m = {i : conf_i in I_m}``,
  ``ECE = sum_m |B_m| / N * |acc(B_m) - conf(B_m)|`` (M = 15 by default, as Guo et al.);
- ``classwise_ece`` (Kull et al. 2019): the same for each class ``k`` on ``p_ik`` against
  ``1[y_i = k]``, averaged over the classes;
- ``brier`` (Brier 1950): ``mean_i sum_k (p_ik - 1[y_i = k])^2``, between 0 and 2;
- ``nll``: ``mean_i -log p_{i, y_i}``;
- temperature scaling (Guo et al. 2017): the one ``T > 0`` minimizing the NLL of
  ``softmax(logits / T)`` on a validation split (never the test split), which leaves the
  predicted classes as they are;
- ``ece_noise``: the ECE a perfectly calibrated model with the same confidences would show
  on as many samples (its 95th percentile over labels drawn from the probabilities
  themselves: consistency resampling, Brocker & Smith 2007, Vaicenavicius et al. 2019). The
  binned ECE is biased upwards on few samples (Kumar et al. 2019): below this band, an ECE
  says nothing about the model.

The bins are closed on the right, as Guo et al. define them; torchmetrics'
``multiclass_calibration_error`` closes them on the left, so the two agree except for
confidences exactly on a bin edge (the tests compare them off the edges). torchmetrics is
the reference these are tested against; they are written here on the NumPy arrays a run
already holds, with what torchmetrics lacks: class-wise ECE as Kull et al. define it, the
bins of a reliability diagram and temperature scaling.

Example:
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> round(ece(p, np.array([0, 1, 1]), n_bins=2), 4)  # one bin: accuracy 2/3, confidence 0.767
    0.1
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "brier",
    "calibration_metrics",
    "classwise_ece",
    "ece",
    "ece_noise",
    "fit_temperature",
    "nll",
    "reliability",
    "softmax",
]


def softmax(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` along the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _checked(p: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = np.asarray(p, dtype=np.float64), np.asarray(y).astype(np.int64).reshape(-1)
    if probs.ndim != 2 or len(probs) != len(labels) or len(labels) == 0:
        raise ValueError(f"expected probabilities (N, K) and N labels, got {probs.shape} and {labels.shape}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("probabilities must be finite and lie in [0, 1]")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise ValueError(f"labels must lie in 0..{probs.shape[1] - 1}")
    return probs, labels


def _bin_of(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """The bin ``m`` (0-based) of each confidence, bins ``(m / M, (m + 1) / M]`` (0 goes to the first)."""
    return np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def _binned_error(confidence: np.ndarray, hit: np.ndarray, n_bins: int) -> float:
    """``sum_m |B_m| / N * |mean(hit in B_m) - mean(confidence in B_m)|``."""
    bins = _bin_of(confidence, n_bins)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, hit, n_bins) - np.bincount(bins, confidence, n_bins))
    return float(gap.sum() / len(confidence)) if count.sum() else 0.0


def ece(p: ArrayLike, y: ArrayLike, *, n_bins: int = 15) -> float:
    """Top-label expected calibration error of probabilities ``p`` (N, K) for labels ``y``."""
    probs, labels = _checked(p, y)
    confidence = probs.max(axis=1)
    hit = (probs.argmax(axis=1) == labels).astype(np.float64)
    return _binned_error(confidence, hit, n_bins)


def classwise_ece(p: ArrayLike, y: ArrayLike, *, n_bins: int = 15) -> float:
    """Class-wise ECE: the binned error of each class's probability against its indicator,
    averaged over the classes."""
    probs, labels = _checked(p, y)
    k = probs.shape[1]
    return float(
        np.mean([_binned_error(probs[:, c], (labels == c).astype(np.float64), n_bins) for c in range(k)])
    )


def brier(p: ArrayLike, y: ArrayLike) -> float:
    """Multiclass Brier score: mean squared distance to the one-hot label."""
    probs, labels = _checked(p, y)
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def nll(p: ArrayLike, y: ArrayLike) -> float:
    """Negative log-likelihood of the labels (probabilities clipped at 1e-12)."""
    probs, labels = _checked(p, y)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None))))


def reliability(p: ArrayLike, y: ArrayLike, *, n_bins: int = 15) -> dict[str, list[float]]:
    """Per bin: its edges, the samples' mean confidence and accuracy, and the count (empty
    bins have ``nan`` means): what a reliability diagram draws."""
    probs, labels = _checked(p, y)
    confidence = probs.max(axis=1)
    hit = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = _bin_of(confidence, n_bins)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(bins, confidence, n_bins) / count
        acc = np.bincount(bins, hit, n_bins) / count
    return {"edges": np.linspace(0, 1, n_bins + 1).tolist(), "confidence": conf.tolist(),
            "accuracy": acc.tolist(), "count": count.tolist()}  # fmt: skip


def ece_noise(
    p: ArrayLike, *, n_bins: int = 15, draws: int = 200, quantile: float = 0.95, seed: int = 0
) -> float:
    """The ``quantile`` of the ECE of probabilities ``p`` over ``draws`` label sets drawn from
    ``p`` itself: what a perfectly calibrated model shows on this many samples."""
    probs, _ = _checked(p, np.zeros(len(np.asarray(p)), dtype=np.int64))
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probs, axis=1)
    found = []
    for _ in range(draws):
        u = rng.random(len(probs))[:, None] * cumulative[:, -1:]
        labels = np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)
        found.append(ece(probs, labels, n_bins=n_bins))
    return float(np.quantile(found, quantile))


def fit_temperature(logits: ArrayLike, y: ArrayLike, *, bounds: tuple[float, float] = (0.01, 100.0)) -> float:
    """The temperature ``T`` in ``bounds`` minimizing the NLL of ``softmax(logits / T)`` for
    labels ``y`` (Guo et al. 2017; a bounded scalar search on ``log T``)."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, dtype=np.float64)
    _checked(softmax(z), y)
    labels = np.asarray(y).astype(np.int64).reshape(-1)

    def loss(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))

    found = minimize_scalar(loss, bounds=tuple(np.log(bounds)), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


def calibration_metrics(
    logits: ArrayLike, y: ArrayLike, *, n_bins: int = 15, temperature: float = 1.0
) -> dict[str, Any]:
    """``ece``, ``classwise_ece``, ``brier``, ``nll`` and ``accuracy`` of ``softmax(logits / T)``."""
    p = softmax(logits, temperature)
    labels = np.asarray(y).astype(np.int64).reshape(-1)
    return {
        "ece": ece(p, labels, n_bins=n_bins),
        "classwise_ece": classwise_ece(p, labels, n_bins=n_bins),
        "brier": brier(p, labels),
        "nll": nll(p, labels),
        "accuracy": float(np.mean(p.argmax(axis=1) == labels)),
    }
