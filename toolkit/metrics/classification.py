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


def mcc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The Matthews correlation coefficient (Matthews 1975), scikit-learn's
    ``matthews_corrcoef``: for two classes ``(TP·TN - FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``,
    0 for a constant prediction, ``nan`` for no samples.

    Example:
        >>> mcc([0, 1, 1, 0], [0, 1, 0, 0])
        0.5773502691896258
    """
    from sklearn.metrics import matthews_corrcoef

    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float(matthews_corrcoef(t, p)) if t.size else float("nan")


def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The mean per-class recall (Brodersen et al. 2010), scikit-learn's
    ``balanced_accuracy_score``; ``nan`` for no samples.

    Example:
        >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
        0.5
    """
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    t, p = np.asarray(y_true), np.asarray(y_pred)
    if not t.size:
        return float("nan")
    with warnings.catch_warnings():  # a class predicted but absent from the labels
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(t, p))
