"""Classification: train a model and report its accuracy (the base of other recipes).

A recipe whose trained model other recipes start from (``[train] init_from``) needs no
question of its own: this task trains (or reuses) the model and reports test accuracy,
the Matthews correlation, per-class accuracy and the confusion matrix, with the training
curves. Defenses apply as in any recipe (a data hook such as ``text_augment`` trains on
augmented sentences).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext


class ClassifyTask:
    """Train and evaluate a classifier (``task = "classify"``); no ``[evaluate]`` parameters.

    Metrics (``metrics.json``): ``accuracy``, ``mcc`` (Matthews correlation, Matthews 1975;
    scikit-learn's ``matthews_corrcoef``, the CoLA score), ``per_class_accuracy`` (by class name),
    ``confusion`` (true x predicted, test split), ``n_train``, ``n_test``. Figures: the
    training curves and the confusion matrix. Per sample (``samples/classify.npz``):
    ``label`` and ``prediction``.
    """

    uses = ("model", "train", "defenses")
    requires = ()

    def run(self, ctx: TaskContext) -> TaskResult:
        from toolkit.metrics import classification
        from toolkit.tasks import kit

        data = ctx.data()
        names = data.info.class_names
        y = data.test.y.numpy()
        pred = ctx.outputs("test").predictions.numpy()
        matrix, figure = kit.confusion(y, pred, names, title="test split")
        per_class = {n: float(matrix[k, k] / max(matrix[k].sum(), 1)) for k, n in enumerate(names)}
        accuracy = classification.accuracy(y, pred)
        mcc = classification.mcc(y, pred)
        ctx.log.info(f"test accuracy {accuracy:.4f}, Matthews correlation {mcc:.4f}")
        figures = {**kit.training_curves(ctx), "confusion": figure}
        metrics = {
            "accuracy": accuracy,
            "mcc": mcc,
            "per_class_accuracy": per_class,
            "confusion": matrix.tolist(),
            "n_train": len(data.train),
            "n_test": len(data.test),
        }
        table = Table(
            title=f"Classification: test accuracy {accuracy:.4f}, MCC {mcc:.4f}",
            columns=["class", "accuracy", "test samples"],
            rows=[[n, per_class[n], int(matrix[k].sum())] for k, n in enumerate(names)],
        )
        samples = {"classify": {"label": y, "prediction": pred.astype(np.int64)}}
        return TaskResult(metrics=metrics, tables=[table], figures=figures, samples=samples)
