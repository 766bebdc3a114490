"""Classification metrics."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of predictions equal to the labels (``nan`` for no samples)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"labels and predictions differ in shape: {t.shape} vs {p.shape}")
    return float(np.mean(t == p)) if t.size else float("nan")
