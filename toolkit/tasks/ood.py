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
        ctx.model()
        test, held = ctx.outputs("test"), ctx.outputs("ood")
        acc = accuracy(data.test.y.numpy(), test.predictions.numpy())
        ctx.log.info(f"in-distribution test accuracy {acc:.4f}")
        detectors, curves, figures = self.detect(ctx)
        history = ctx.trained().history
        if history:
            figures = {"training_curves": plots.training_curves(history), **figures}
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

    def detect(self, ctx: TaskContext) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Fit every detector on the training outputs and score the test and held-out ones:
        the metrics, the score pairs and a score histogram of each."""
        from toolkit import plots
        from toolkit.metrics.ood import ood_metrics

        model, holdout = ctx.model(), ctx.data().info.holdout
        train, test, held = ctx.outputs("train"), ctx.outputs("test"), ctx.outputs("ood")
        detectors: dict[str, Any] = {}
        curves, figures = {}, {}
        with ctx.log.stage("detect"), ctx.log.progress() as bar:
            task = bar.add_task("detectors", total=len(ctx.recipe.detectors)) if bar else None
            for i, spec in enumerate(ctx.recipe.detectors):
                label = ctx.recipe.label("detectors", i)
                if bar is not None and task is not None:
                    bar.update(task, description=f"detector {label}")
                detector = ctx.build(spec)
                detector.fit(model, train)
                s_in = detector.score(model, test).detach().double().cpu().numpy()
                s_out = detector.score(model, held).detach().double().cpu().numpy()
                detectors[label] = ood_metrics(s_in, s_out, self.tpr)
                curves[label] = (s_in, s_out)
                figures[f"scores_{label}"] = plots.score_histogram(
                    s_in, s_out, name=label, threshold=detectors[label]["threshold"],
                    labels=("in-distribution test", f"held out ({', '.join(holdout)})"),
                )  # fmt: skip
                if bar is not None and task is not None:
                    bar.advance(task)
        return detectors, curves, figures

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
