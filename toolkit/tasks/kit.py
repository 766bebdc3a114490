"""The evaluation kit the tasks share, so each task file holds only its own experiment.

- :func:`score_detectors`: fit every detector of the recipe on one split's outputs and score
  an in-distribution (or clean) split against another, each split through the model once;
  the ``ood`` task's metrics (:func:`toolkit.metrics.ood.ood_metrics`) per detector;
  :func:`score_sets` against several outside sets, each detector fitted once.
- :func:`compared`: the final model and, when the recipe has components in a section, the
  same recipe trained without them (the twin, from :meth:`TaskContext.without`): the one
  way a task says "with and without the defenses" or "with and without the attacks".
- :func:`training_curves` and :func:`confusion`: the standard figures.
- :func:`predict` and :func:`probabilities` (from :mod:`toolkit.outputs`): a model's classes
  and class probabilities for stored inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.outputs import Outputs, predict, probabilities

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.execution.context import TaskContext

__all__ = ["Detection", "compared", "confusion", "predict", "probabilities", "score_detectors",
           "score_sets", "training_curves"]  # fmt: skip


@dataclass
class Detection:
    """What :func:`score_detectors` found.

    Args:
        metrics: per detector label, :func:`~toolkit.metrics.ood.ood_metrics` of the scores.
        scores: per detector label, the scores of the inside and the outside split.
    """

    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def score_detectors(
    ctx: TaskContext,
    model: nn.Module,
    *,
    fit_on: Outputs,
    inside: Outputs,
    outside: Outputs,
    tpr: float = 0.95,
    what: str = "",
) -> Detection:
    """Fit every detector of the recipe on ``fit_on`` and score ``inside`` against ``outside``.

    Higher scores mean more in-distribution (or more clean); the threshold accepts a fraction
    ``tpr`` of ``inside``. Each split passes through ``model`` once, with the layers every
    detector declares (``layers``) captured in that pass.

    Args:
        ctx: the run.
        model: the model the detectors read.
        fit_on: the split detectors are fitted on (usually the training split).
        inside: the in-distribution (clean) split.
        outside: the out-of-distribution (attacked, triggered) split.
        tpr: the share of ``inside`` accepted at the threshold (default 0.95).
        what: what the two splits are, for the log (``"clean vs triggered test images"``).
    """
    found = score_sets(ctx, model, fit_on=fit_on, inside=inside, outside={what: outside}, tpr=tpr)
    return found[what]


def score_sets(
    ctx: TaskContext,
    model: nn.Module,
    *,
    fit_on: Outputs,
    inside: Outputs,
    outside: Mapping[str, Outputs],
    tpr: float = 0.95,
    detectors: Mapping[str, Any] | None = None,
) -> dict[str, Detection]:
    """:func:`score_detectors` against several outside sets: each detector fitted once, the
    inside split scored once, then each outside set; a :class:`Detection` per set (keyed as
    ``outside``; a non-empty key is logged with each detector's AUROC). ``detectors`` (label
    -> a detector bound to the data) replaces the recipe's ``[[detectors]]`` (the audit's)."""
    from toolkit.declarations import declared
    from toolkit.metrics.ood import ood_metrics

    found = {key: Detection() for key in outside}
    built = dict(detectors) if detectors is not None else None
    if built is None:
        wanted = ctx.layers("detectors")
    else:
        wanted = sorted({name for d in built.values() for name in declared(d, "layers") or ()})
    for outputs in (fit_on, inside, *outside.values()):
        outputs.want(*wanted)
    scoring: list[tuple[str, Any]] = (
        list(built.items())
        if built is not None
        else [
            (ctx.recipe.label("detectors", i), spec)
            for i, spec in enumerate(ctx.recipe.detectors)
            if spec.family == "detector"  # scanners (neural_cleanse) read the model, not inputs: not here
        ]
    )
    with ctx.log.stage("detect"), ctx.log.progress() as bar:
        task = bar.add_task("detectors", total=len(scoring)) if bar else None
        for label, spec in scoring:
            if bar is not None and task is not None:
                bar.update(task, description=f"detector {label}")
            detector = (spec if built is not None else ctx.build(spec)).fit(model, fit_on)
            s_in = detector.score(model, inside).detach().double().cpu().numpy()
            for key, outputs in outside.items():
                s_out = detector.score(model, outputs).detach().double().cpu().numpy()
                found[key].metrics[label] = ood_metrics(s_in, s_out, tpr)
                found[key].scores[label] = (s_in, s_out)
                if key:
                    ctx.log.info(f"detector {label}: AUROC {found[key].metrics[label]['auroc']:.4f} ({key})")
            if bar is not None and task is not None:
                bar.advance(task)
    return found


def compared(
    ctx: TaskContext, section: str, *, labels: tuple[str, str], alone: str = "model"
) -> dict[str, nn.Module]:
    """``{alone: final}``, or, when the recipe has components in ``section``,
    ``{labels[0]: the twin trained without them, labels[1]: final}``.

    Args:
        ctx: the run.
        section: ``"defenses"`` or ``"attacks"``.
        labels: the names of the twin and of the final model (``("without defense", "with
            defense")``).
        alone: the name of the final model when there is nothing to compare (default ``model``).
    """
    if not ctx.recipe.section(section):
        return {alone: ctx.model()}
    return {labels[0]: ctx.without(section).model, labels[1]: ctx.model()}


def training_curves(ctx: TaskContext) -> dict[str, Figure]:
    """``{"training_curves": figure}`` of the shared training loop, or nothing (a model from
    the cache that kept no history, or none trained)."""
    from toolkit import plots

    history = ctx.trained().history
    return {"training_curves": plots.training_curves(history)} if history else {}


def confusion(
    y: np.ndarray, pred: np.ndarray, names: list[str], *, title: str, xlabel: str = "predicted"
) -> tuple[np.ndarray, Figure]:
    """The confusion matrix (true x predicted) and its figure."""
    from toolkit import plots
    from toolkit.metrics.robustness import confusion as matrix_of

    matrix = matrix_of(y, pred, len(names))
    return matrix, plots.confusion(matrix, names, title=title, xlabel=xlabel)
