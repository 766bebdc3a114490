"""The backdoor task's scan of the model alone: every model scanner of ``[[detectors]]``
(``neural_cleanse``) on the poisoned model and, with ``reference``, on the clean twin
trained without the attack, with the attack's target classes to check the flags against.

Metrics (``scans.<scanner>`` and ``clean_model.scans.<scanner>``): the scanner's per-class
statistic (``values``), ``anomaly_index``, ``flagged`` (class names), ``max_anomaly_index``,
its details (``success``, ``reached``), and ``targets`` (the attack's target classes),
``target_flagged`` (every target flagged) and ``false_flags`` (flagged classes that are no
target). A table puts the two models side by side; a figure per model draws the reversed
triggers with their norm and anomaly index, flagged classes in red.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from toolkit.results import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.detectors.scan import ModelScan
    from toolkit.execution.context import TaskContext

__all__ = ["scan_models", "scan_table", "targets_of", "triggers_figure"]


def targets_of(attack: Any, y: torch.Tensor, names: list[str]) -> list[str]:
    """The classes the attack sends its triggered inputs to (``relabel`` of its sources)."""
    source = attack.eligible(y)
    wanted = attack.relabel(y)[source]
    return [names[int(k)] for k in torch.unique(wanted)]


def scan_models(
    ctx: TaskContext, models: dict[str, nn.Module], targets: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Figure]]:
    """Every scanner on every model, on the clean test images; ``{model: {scanner: metrics}}``
    and a figure per model and scanner."""
    from toolkit.data.inputs import to_model_input

    data = ctx.data()
    names = data.info.class_names
    x = to_model_input(data.test.x)
    if not isinstance(x, torch.Tensor):
        raise ValueError("model scanners stamp images: they need inputs that are one tensor")
    out: dict[str, dict[str, Any]] = {model: {} for model in models}
    figures: dict[str, Figure] = {}
    scanners = [(i, c) for i, c in enumerate(ctx.recipe.detectors) if c.family == "scanner"]
    with ctx.log.stage("scan"):
        for i, spec in scanners:
            label = ctx.recipe.label("detectors", i)
            scanner = ctx.build(spec)
            for model_name, model in models.items():
                found = scanner.scan(model.to(ctx.device), x)
                metrics = _metrics(found, names, targets)
                out[model_name][label] = metrics
                flagged = ", ".join(metrics["flagged"]) or "no class"
                ctx.log.info(f"scanner {label} on the {model_name}: flagged {flagged} "
                             f"(largest anomaly index {metrics['max_anomaly_index']:.2f})")  # fmt: skip
                if found.triggers is not None:
                    key = f"scan_{label}_{model_name.replace(' ', '_')}"
                    figures[key] = triggers_figure(
                        found, names, title=f"{label}: reversed triggers, {model_name}"
                    )
    return out, figures


def _metrics(found: ModelScan, names: list[str], targets: list[str]) -> dict[str, Any]:
    metrics = found.metrics(names)
    flagged = set(metrics["flagged"])
    metrics["targets"] = targets
    metrics["target_flagged"] = bool(targets) and set(targets) <= flagged
    metrics["false_flags"] = sorted(flagged - set(targets), key=names.index)
    return metrics


def triggers_figure(found: ModelScan, names: list[str], *, title: str) -> Figure:
    """The reversed triggers of a scan, one per class, with their norm and anomaly index;
    flagged classes in red."""
    from toolkit import plots

    assert found.triggers is not None
    titles = [
        f"{n}\n|m|={v:.1f} a={a:.1f}"
        for n, v, a in zip(names, found.values, found.anomaly_index, strict=True)
    ]
    marked = [k in found.flagged for k in range(len(names))]
    return plots.labelled_images(found.triggers.numpy(), titles, marked=marked, title=title)


def scan_table(scans: dict[str, dict[str, Any]]) -> Table:
    """Per scanner and model: the flagged classes, the targets, and the anomaly indices."""
    rows = []
    for model_name, per_scanner in scans.items():
        for label, m in per_scanner.items():
            target_index = [m["anomaly_index"][t] for t in m["targets"]]
            rows.append([
                label, model_name, ", ".join(m["flagged"]) or "none", ", ".join(m["targets"]),
                max(target_index) if target_index else "", m["max_anomaly_index"],
            ])  # fmt: skip
    return Table(
        title="Backdoor scan of the model alone (flagged: a small trigger with anomaly index above 2)",
        columns=[
            "scanner",
            "model",
            "flagged",
            "attack's target",
            "target's anomaly index",
            "largest anomaly index",
        ],
        rows=rows,
    )
