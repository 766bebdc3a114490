"""The evasion task's figures: robust accuracy against the budget, the confusion after the
attack, clean and adversarial images, and the explainers' maps (or per-feature bars on
tabular data) of clean and adversarial inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toolkit.tasks import kit

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.execution.context import TaskContext


def figures(
    ctx: TaskContext, results: dict[str, Any], models: dict[str, nn.Module],
    x: torch.Tensor, y: torch.Tensor, *, grid: int,
) -> dict[str, Figure]:  # fmt: skip
    """Training curves, robust accuracy against the budget, the confusion matrix after the
    first attack at its largest budget, and pictures of the examples and explanations."""
    from toolkit import plots

    figures = kit.training_curves(ctx)
    single = len(results) == 1
    curves = {
        f"{a} ({label})": (m["eps"], m["robust_accuracy"])
        for label, r in results.items()
        for a, m in r["metrics"]["attacks"].items()
    }
    figures["robust_accuracy"] = plots.robust_accuracy(curves)
    ours = results[list(results)[-1]]
    first = next(iter(ours["metrics"]["attacks"]))
    worst = ours["metrics"]["attacks"][first]
    top = int(np.nanargmax(worst["eps"])) if not np.isnan(worst["eps"]).all() else -1
    names = ctx.data().info.class_names
    figures["confusion_after_attack"] = plots.confusion(
        np.asarray(worst["confusion"][top]), names, title=f"{first} at eps {worst['eps'][top]:.4g}"
    )
    if grid and x.dim() == 4:
        x_adv, pred_clean, pred_adv = ours["examples"]
        k = grid
        figures["examples"] = plots.image_grid(
            x[:k].cpu(), x_adv[:k].cpu(), y[:k].cpu(), pred_clean[:k], pred_adv[:k], names
        )
    if ctx.recipe.explainers and not grid and x.dim() == 4:
        ctx.log.info("explainers not run: evaluate.grid = 0 asks for no images", style="yellow")
    if ctx.recipe.explainers and (grid or x.dim() != 4):
        with ctx.log.stage("explain"):
            for label, net in models.items():
                suffix = "" if single else "_" + label.replace(" ", "_")
                figures.update(explanations(ctx, net, x, results[label]["examples"], suffix, grid=grid))
    return figures


def explanations(
    ctx: TaskContext, model: nn.Module, x: torch.Tensor, examples: Any, suffix: str, *, grid: int
) -> dict[str, Figure]:
    """Each explainer's attributions of clean and adversarial inputs for their predicted
    classes: maps of the first ``grid`` images, or mean per-feature bars on tabular data."""
    from toolkit import plots

    x_adv, pred_clean, pred_adv = examples
    info = ctx.data().info
    image = x.dim() == 4
    k = min(grid if image else 256, len(x))
    out = {}
    for i, spec in enumerate(ctx.recipe.explainers):
        explainer = ctx.build(spec)
        clean_maps = explainer.explain(model, x[:k], pred_clean[:k].to(ctx.device)).cpu()
        adv_maps = explainer.explain(model, x_adv[:k], pred_adv[:k].to(ctx.device)).cpu()
        label = ctx.recipe.label("explainers", i)
        title = f"{label}{suffix.replace('_', ' ')}"
        if image:
            out[f"explain_{label}{suffix}"] = plots.attribution_grid(
                x[:k].cpu(), clean_maps, x_adv[:k].cpu(), adv_maps,
                pred_clean[:k], pred_adv[:k], info.class_names, title=title,
            )  # fmt: skip
        else:
            out[f"explain_{label}{suffix}"] = plots.feature_attributions(
                clean_maps.reshape(k, -1).numpy(),
                adv_maps.reshape(k, -1).numpy(),
                info.feature_names,
                title=title,
            )
    return out
