"""The audit's OOD check: can this model (with a detector) tell inputs unlike its training
data from those it knows?

When the data hold classes out (``dataset.holdout``) or the audit names OOD data sets
(``evaluate.near`` / ``evaluate.far``, :mod:`toolkit.tasks.ood_sets`), every detector of
``evaluate.detectors`` (default ``msp``, ``max_logit``, ``energy``, ``mahalanobis``,
``knn``, ``vim``: those that need no gradients) is fitted once on the training split and
scored on the test split's shared forward pass against each OOD split: both FPR95
conventions, AUROC, AUPR-In and AUPR-Out (:mod:`toolkit.metrics.ood`).

Verdict, on the best detector of each OOD split: ``fail`` when its AUROC is below
``ood_fail`` (0.7), ``warn`` below ``ood_warn`` (0.85), ``pass`` otherwise; ``skipped``
without OOD data. For scale: OpenOOD v1.5's ResNet-18 on CIFAR-10 reaches AUROCs of 0.88
to 0.91 (near) and 0.91 to 0.93 (far) with its best detectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.audit.verdicts import CheckResult
from toolkit.results import Table

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext

__all__ = ["DETECTORS", "ood"]

#: The audit's detectors by default: every built-in one that reads the shared forward pass
#: alone (no input gradients, no extra passes).
DETECTORS = ("msp", "max_logit", "energy", "mahalanobis", "knn", "vim")


def ood(
    ctx: TaskContext, *, detectors: list[str], groups: dict[str, list[dict[str, Any]]], split: str,
    samples: int | None, tpr: float = 0.95, ood_warn: float = 0.85, ood_fail: float = 0.7,
) -> CheckResult:  # fmt: skip
    """The OOD check of the run's final model."""
    from toolkit.tasks import kit
    from toolkit.tasks.ood_sets import load_sets

    data = ctx.data()
    held = data.ood is not None and len(data.ood) > 0
    sets = load_sets(groups, data.info, seed=ctx.recipe.seed, split=split, samples=samples)
    if not held and not sets:
        return CheckResult(
            "skipped", "no OOD data given: set dataset.holdout or evaluate.near / evaluate.far"
        )
    model = ctx.model()
    outside = {"held out": ctx.outputs("ood")} if held else {}
    outside |= {s.key: ctx.outputs_of(model, s.x) for s in sets}
    built = _detectors(detectors, data.info)
    found = kit.score_sets(ctx, model, fit_on=ctx.outputs("train"), inside=ctx.outputs("test"),
                           outside=outside, tpr=tpr, detectors=built)  # fmt: skip
    per_set = {key: f.metrics for key, f in found.items()}
    best = {key: _best(m) for key, m in per_set.items()}
    worst_key = min(best, key=lambda k: per_set[k][best[k]]["auroc"])
    low = per_set[worst_key][best[worst_key]]["auroc"]
    where = f"{worst_key}: best detector {best[worst_key]}, AUROC {low:.3f}"
    if low < ood_fail:
        verdict, reason = "fail", f"{where}, below {ood_fail:g}"
    elif low < ood_warn:
        verdict, reason = "warn", f"{where}, below {ood_warn:g}"
    else:
        verdict, reason = "pass", f"every OOD split told apart (weakest {where})"
    metrics = {"sets": {k: {"detectors": m, "best": best[k]} for k, m in per_set.items()}, "tpr": tpr}
    keys = ("auroc", "fpr_at_tpr", "fpr_at_tpr_ood_positive", "aupr_in", "aupr_out")
    table = Table(
        title="OOD detection (every detector, one forward pass per split)",
        columns=["OOD split", "detector", "AUROC", f"OOD accepted @ ID TPR {tpr:g}",
                 f"ID rejected @ OOD TPR {tpr:g}", "AUPR-In", "AUPR-Out"],
        rows=[[k, d, *(m[d][key] for key in keys)] for k, m in per_set.items() for d in m],
    )  # fmt: skip
    return CheckResult(verdict, reason, metrics, [table])  # type: ignore[arg-type]


def _detectors(names: list[str], info: Any) -> dict[str, Any]:
    """The named detectors with their default parameters, bound to the data."""
    from toolkit.protocols import bind
    from toolkit.registry import registry

    out = {}
    for name in names:
        entry = registry("detectors").get(name)
        out[name] = bind(entry.load()(**entry.signature().validate({}, f"detector {name}")), info)
    return out


def _best(metrics: dict[str, dict[str, Any]]) -> str:
    """The detector with the highest AUROC."""
    return max(metrics, key=lambda d: float(metrics[d]["auroc"]))
