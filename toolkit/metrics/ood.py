"""Out-of-distribution detection metrics, on scores where higher means in-distribution.

In-distribution (ID) samples are the positive class throughout.

- ``threshold_at_tpr(s_in, tpr)``: the largest threshold ``t`` with
  ``mean(s_in >= t) >= tpr``: a sample is accepted as ID when its score is ``>= t``.
- ``fpr_at_tpr(s_in, s_out, tpr)``: ``mean(s_out >= t)``, the fraction of OOD samples
  accepted at that threshold (FPR with ID positive; the protocol of Hendrycks & Gimpel 2017).
- ``auroc``: area under the ROC curve of ID vs OOD (scikit-learn ``roc_auc_score``).
- ``aupr_in`` / ``aupr_out``: average precision with ID, respectively OOD (scores
  negated), as the positive class (scikit-learn ``average_precision_score``).

- ``fpr_at_tpr_ood_positive(s_in, s_out, tpr)``: the other convention, OOD as the positive
  class (pytorch-ood, OpenOOD "FPR95"): the fraction of ID samples flagged as OOD at the
  threshold that flags a fraction ``tpr`` of the OOD samples. A different number; see
  docs/metrics.md.

Example:
    >>> import numpy as np
    >>> s_in, s_out = np.array([0.9, 0.8, 0.7, 0.6]), np.array([0.65, 0.5])
    >>> threshold_at_tpr(s_in, 0.75), fpr_at_tpr(s_in, s_out, 0.75)
    (0.7, 0.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _scores(s: ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(s, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"no {what} scores")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} scores contain NaN or infinity")
    return a


def threshold_at_tpr(scores_in: ArrayLike, tpr: float = 0.95) -> float:
    """The largest ``t`` such that at least ``tpr`` of the ID scores are ``>= t``."""
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr}")
    s = np.sort(_scores(scores_in, "in-distribution"))[::-1]
    k = max(math.ceil(tpr * s.size - 1e-9), 1)
    return float(s[k - 1])


def fpr_at_tpr(scores_in: ArrayLike, scores_out: ArrayLike, tpr: float = 0.95) -> float:
    """Fraction of OOD scores at or above :func:`threshold_at_tpr` (OOD samples accepted)."""
    t = threshold_at_tpr(scores_in, tpr)
    return float(np.mean(_scores(scores_out, "out-of-distribution") >= t))


def fpr_at_tpr_ood_positive(scores_in: ArrayLike, scores_out: ArrayLike, tpr: float = 0.95) -> float:
    """Fraction of ID samples flagged as OOD when a fraction ``tpr`` of OOD samples is flagged.

    The same rule as :func:`fpr_at_tpr` with the roles swapped and the scores negated (a
    sample is flagged as OOD when ``-score >= t``).
    """
    return fpr_at_tpr(
        -np.asarray(scores_out, dtype=np.float64), -np.asarray(scores_in, dtype=np.float64), tpr
    )


def _labelled(scores_in: ArrayLike, scores_out: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = _scores(scores_in, "in-distribution"), _scores(scores_out, "out-of-distribution")
    return np.r_[np.ones(a.size), np.zeros(b.size)], np.r_[a, b]


def auroc(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Area under the ROC curve, ID as the positive class."""
    from sklearn.metrics import roc_auc_score

    y, s = _labelled(scores_in, scores_out)
    return float(roc_auc_score(y, s))


def aupr_in(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Average precision with ID as the positive class."""
    from sklearn.metrics import average_precision_score

    y, s = _labelled(scores_in, scores_out)
    return float(average_precision_score(y, s))


def aupr_out(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Average precision with OOD as the positive class (scores negated)."""
    from sklearn.metrics import average_precision_score

    y, s = _labelled(scores_in, scores_out)
    return float(average_precision_score(1 - y, -s))


def ood_metrics(scores_in: ArrayLike, scores_out: ArrayLike, tpr: float = 0.95) -> dict[str, Any]:
    """All of the above in one dict.

    Keys: ``threshold``, ``fpr_at_tpr``, ``fpr_at_tpr_ood_positive``, ``auroc``, ``aupr_in``,
    ``aupr_out``.
    """
    return {
        "threshold": threshold_at_tpr(scores_in, tpr),
        "fpr_at_tpr": fpr_at_tpr(scores_in, scores_out, tpr),
        "fpr_at_tpr_ood_positive": fpr_at_tpr_ood_positive(scores_in, scores_out, tpr),
        "auroc": auroc(scores_in, scores_out),
        "aupr_in": aupr_in(scores_in, scores_out),
        "aupr_out": aupr_out(scores_in, scores_out),
    }
