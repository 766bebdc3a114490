"""The audit's backdoor check of the model alone: Neural Cleanse (Wang et al. 2019).

For every class, the smallest trigger (mask and pattern) that sends clean test images to it
is reversed (:class:`toolkit.detectors.neural_cleanse.NeuralCleanse`); a class whose mask
norm is an outlier on the small side, anomaly index above ``anomaly_threshold`` (2, the
paper's), is flagged as a backdoor target. Verdict: ``fail`` naming the flagged classes,
``pass`` when none stands out, ``skipped`` for data that are not images. The reversed
triggers are drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.audit.verdicts import CheckResult
from toolkit.results import Table

if TYPE_CHECKING:
    from torch import nn

__all__ = ["backdoor"]


def backdoor(
    model: nn.Module, x: Any, names: list[str], *, modality: str, seed: int, steps: int = 1000,
    samples: int = 500, anomaly_threshold: float = 2.0,
) -> CheckResult:  # fmt: skip
    """The backdoor check of ``model`` on clean model inputs ``x`` (images in ``[0, 1]``)."""
    from toolkit.detectors.neural_cleanse import NeuralCleanse
    from toolkit.tasks.backdoor_scan import triggers_figure

    if modality != "image" or not _is_images(x):
        return CheckResult("skipped", f"Neural Cleanse reverses triggers on images; the data are {modality}")
    scanner = NeuralCleanse(steps=steps, samples=samples, anomaly_threshold=anomaly_threshold, seed=seed)
    found = scanner.scan(model, x)
    metrics = found.metrics(names)
    flagged = metrics["flagged"]
    if flagged:
        worst = max(flagged, key=lambda n: metrics["anomaly_index"][n])
        verdict, reason = (
            "fail",
            (
                f"Neural Cleanse flags class {', '.join(flagged)}: the reversed trigger of {worst} needs "
                f"a mask of norm {metrics['values'][worst]:.3g} against a median of "
                f"{_median(metrics['values']):.3g} (anomaly index {metrics['anomaly_index'][worst]:.2f}, "
                f"above {anomaly_threshold:g})"
            ),
        )
    else:
        median = _median(metrics["values"])
        small = [metrics["anomaly_index"][n] for n in names if metrics["values"][n] <= median]
        verdict, reason = (
            "pass",
            (
                f"no class's reversed trigger is anomalously small: largest anomaly index on the small "
                f"side {max(small, default=0.0):.2f} (flagged above {anomaly_threshold:g})"
            ),
        )
    table = Table(
        title="Backdoor scan of the model alone (Neural Cleanse)",
        columns=["class", "mask norm", "anomaly index", "reversed trigger's success", "flagged"],
        rows=[[n, metrics["values"][n], metrics["anomaly_index"][n], metrics["success"][n],
               "yes" if n in flagged else ""] for n in names],
    )  # fmt: skip
    figure = triggers_figure(found, names, title="Neural Cleanse: reversed triggers")
    return CheckResult(verdict, reason, metrics, [table], {"triggers": figure})  # type: ignore[arg-type]


def _is_images(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor) and x.dim() == 4


def _median(values: dict[str, float]) -> float:
    import numpy as np

    return float(np.median(list(values.values())))
