"""Robustness metrics: pure functions on labels and predictions.

- ``robust_accuracy(y, pred_adv)``: accuracy on the adversarial examples.
- ``success_rate(y, pred_clean, pred_adv)``: among the samples the model classifies
  correctly, the share whose prediction the attack changes (untargeted success).
- ``confusion(y, pred, k)``: counts ``C[i, j]`` of true class ``i`` predicted as ``j``.

Example:
    >>> import numpy as np
    >>> y, clean, adv = np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0]), np.array([1, 1, 0, 0])
    >>> robust_accuracy(y, adv), success_rate(y, clean, adv)
    (0.25, 0.6666666666666666)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def robust_accuracy(y_true: ArrayLike, y_adv: ArrayLike) -> float:
    """Accuracy on adversarial examples."""
    y, p = np.asarray(y_true).reshape(-1), np.asarray(y_adv).reshape(-1)
    return float(np.mean(y == p)) if y.size else float("nan")


def success_rate(y_true: ArrayLike, y_clean: ArrayLike, y_adv: ArrayLike) -> float:
    """Share of correctly classified samples whose prediction the attack changed."""
    y, c, a = (np.asarray(v).reshape(-1) for v in (y_true, y_clean, y_adv))
    correct = c == y
    return float(np.mean(a[correct] != y[correct])) if correct.any() else float("nan")


def confusion(y_true: ArrayLike, y_pred: ArrayLike, k: int) -> np.ndarray:
    """``(k, k)`` counts of true class (rows) against predicted class (columns)."""
    y, p = np.asarray(y_true).reshape(-1).astype(int), np.asarray(y_pred).reshape(-1).astype(int)
    out = np.zeros((k, k), dtype=np.int64)
    np.add.at(out, (y, p), 1)
    return out
