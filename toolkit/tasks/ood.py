"""Out-of-distribution detection by leaving classes out of training.

The protocol of Hendrycks & Gimpel (ICLR 2017) in its leave-classes-out form: train on the
in-distribution classes, score the in-distribution test split and the held-out classes'
test samples with every detector, pick the threshold at which a fraction ``tpr`` of the
in-distribution test samples is accepted, and report the fraction of held-out samples
accepted at that threshold, with AUROC, AUPR-In and AUPR-Out (see
:mod:`toolkit.metrics.ood`). Logits and features of each split are computed once and shared
by all detectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field

from toolkit.errors import Problem, UsageError
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext
    from toolkit.recipe import ResolvedRecipe


class OODTask:
    """Leave-classes-out OOD detection (``task = "ood"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``accuracy`` (in-distribution test accuracy), ``n_in``,
    ``n_out``, ``tpr`` and, per detector, ``threshold``, ``fpr_at_tpr`` (held-out samples
    accepted at the threshold), ``fpr_at_tpr_ood_positive`` (in-distribution samples
    rejected when a fraction ``tpr`` of the held-out ones is rejected: the FPR95 of
    pytorch-ood and OpenOOD), ``auroc``, ``aupr_in``, ``aupr_out``. Figures: training
    curves, a score histogram per detector, the ROC curves of all detectors. Per sample
    (``samples/ood.npz``): ``held_out`` (1 for the held-out split), ``label``,
    ``prediction``, ``probabilities`` and ``score_<detector>``.

    Args:
        tpr: fraction of in-distribution test samples accepted at the threshold (default 0.95).
    """

    uses = ("model", "train", "detectors")
    requires = ("detectors",)

    def __init__(self, *, tpr: Annotated[float, Field(gt=0, le=1)] = 0.95) -> None:
        self.tpr = tpr

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """The dataset must be able to leave classes out, and the recipe must ask it to."""
        spec = recipe.dataset
        params = {p.name for p in spec.entry.signature().params}
        if "holdout" not in params:
            return [
                Problem(
                    "dataset.name",
                    f"the ood task needs held-out classes, but dataset '{spec.name}' has no holdout "
                    "parameter; use a dataset that can leave classes out (toolkit show datasets NAME)",
                )
            ]
        if not spec.params.get("holdout"):
            return [
                Problem("dataset.holdout", 'the ood task needs held-out classes, e.g. holdout = ["frog"]')
            ]
        return []

    def run(self, ctx: TaskContext) -> TaskResult:
        """Train (or reuse) the model, score every detector and evaluate it."""
        from toolkit import plots
        from toolkit.metrics.classification import accuracy

        data = ctx.data()
        if data.ood is None or len(data.ood) == 0:
            raise UsageError(
                f"the ood task needs held-out classes: set dataset.holdout, e.g. "
                f'holdout = ["{data.info.class_names[-1]}"]'
            )
        from toolkit.tasks import kit

        test, held = ctx.outputs("test"), ctx.outputs("ood")
        acc = accuracy(data.test.y.numpy(), test.predictions.numpy())
        ctx.log.info(f"in-distribution test accuracy {acc:.4f}")
        found = kit.score_detectors(
            ctx, ctx.model(), fit_on=ctx.outputs("train"), inside=test, outside=held, tpr=self.tpr
        )
        detectors, curves = found.metrics, found.scores
        figures = {**kit.training_curves(ctx), **self._histograms(data.info.holdout, found)}
        figures["roc"] = plots.roc_curves(curves, tpr=self.tpr)
        metrics = {
            "accuracy": acc,
            "n_in": len(data.test),
            "n_out": len(data.ood),
            "holdout": data.info.holdout,
            "tpr": self.tpr,
            "detectors": detectors,
        }
        samples = {"ood": self.samples(data, test, held, curves)}
        return TaskResult(metrics=metrics, tables=[self._table(data.info.holdout, acc, detectors)],
                          figures=figures, samples=samples)  # fmt: skip

    @staticmethod
    def _histograms(holdout: list[str], found: Any) -> dict[str, Any]:
        """A score histogram per detector, with its threshold."""
        from toolkit import plots

        labels = ("in-distribution test", f"held out ({', '.join(holdout)})")
        return {
            f"scores_{name}": plots.score_histogram(
                s_in, s_out, name=name, threshold=found.metrics[name]["threshold"], labels=labels
            )
            for name, (s_in, s_out) in found.scores.items()
        }

    def _table(self, holdout: list[str], acc: float, detectors: dict[str, Any]) -> Table:
        pct = f"{self.tpr:g}"
        keys = ("threshold", "fpr_at_tpr", "fpr_at_tpr_ood_positive", "auroc", "aupr_in", "aupr_out")
        return Table(
            title=f"OOD detection: held out {', '.join(holdout)} (in-distribution accuracy {acc:.4f})",
            columns=[
                "detector",
                "threshold",
                f"held out accepted @ TPR {pct}",
                f"ID rejected @ OOD TPR {pct}",
                "AUROC",
                "AUPR-In",
                "AUPR-Out",
            ],
            rows=[[name, *(m[k] for k in keys)] for name, m in detectors.items()],
        )

    @staticmethod
    def samples(data: Any, test: Any, held: Any, curves: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per-sample columns: the in-distribution test split, then the held-out split."""
        import torch

        logits = torch.cat([test.logits, held.logits])
        columns: dict[str, np.ndarray] = {
            "held_out": np.r_[np.zeros(len(test), dtype=np.int8), np.ones(len(held), dtype=np.int8)],
            "label": torch.cat([data.test.y, data.ood.y]).numpy(),
            "prediction": logits.argmax(1).numpy(),
            "probabilities": torch.softmax(logits, dim=1).numpy(),
        }
        for name, (s_in, s_out) in curves.items():
            columns[f"score_{name}"] = np.r_[s_in, s_out]
        return columns
