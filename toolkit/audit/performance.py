"""The audit's performance check: accuracy, balanced accuracy, per-class recall, MCC and
the confusion matrix of the test split.

Verdict (thresholds in ``[evaluate]``):

- ``fail`` when the balanced accuracy (the mean per-class recall; Brodersen et al. 2010) is
  within ``chance_margin`` (0.05) of chance, ``1 / classes``: the model has learned nothing
  the audit's other checks could be about;
- ``warn`` when a class's recall is below ``recall_ratio`` (0.5) times the balanced accuracy:
  a class the model leaves behind;
- ``pass`` otherwise.

Balanced accuracy and MCC (Matthews 1975) are scikit-learn's ``balanced_accuracy_score``
and ``matthews_corrcoef``.
"""

from __future__ import annotations

import numpy as np

from toolkit.audit.verdicts import CheckResult
from toolkit.results import Table

__all__ = ["performance"]


def performance(
    y: np.ndarray,
    pred: np.ndarray,
    names: list[str],
    *,
    chance_margin: float = 0.05,
    recall_ratio: float = 0.5,
) -> CheckResult:
    """The performance check of predictions ``pred`` for labels ``y``."""
    from toolkit.metrics.classification import balanced_accuracy, mcc
    from toolkit.tasks import kit

    matrix, figure = kit.confusion(y, pred, names, title="test split")
    support = matrix.sum(axis=1)
    recall = {n: float(matrix[k, k] / support[k]) for k, n in enumerate(names) if support[k] > 0}
    balanced = balanced_accuracy(y, pred)
    chance = 1.0 / len(names)
    metrics = {
        "accuracy": float(np.mean(y == pred)),
        "balanced_accuracy": balanced,
        "mcc": mcc(y, pred),
        "per_class_recall": recall,
        "confusion": matrix.tolist(),
        "chance": chance,
    }
    left = {n: r for n, r in recall.items() if r < recall_ratio * balanced}
    if balanced <= chance + chance_margin:
        verdict, reason = (
            "fail",
            (f"balanced accuracy {balanced:.3f} is within {chance_margin:g} of chance ({chance:.3f})"),
        )
    elif left:
        shown = ", ".join(f"{n} {r:.3f}" for n, r in sorted(left.items(), key=lambda kv: kv[1])[:3])
        verdict, reason = (
            "warn",
            (f"recall below {recall_ratio:g} x the balanced accuracy ({balanced:.3f}) for {shown}"),
        )
    else:
        verdict, reason = (
            "pass",
            f"balanced accuracy {balanced:.3f} (chance {chance:.3f}); no class left behind",
        )
    table = Table(
        title=f"Performance: accuracy {metrics['accuracy']:.4f}, balanced accuracy {balanced:.4f}, "
        f"MCC {metrics['mcc']:.4f}",
        columns=["class", "recall", "test samples"],
        rows=[[n, recall.get(n, float("nan")), int(support[k])] for k, n in enumerate(names)],
    )
    return CheckResult(verdict, reason, metrics, [table], {"confusion": figure})  # type: ignore[arg-type]
