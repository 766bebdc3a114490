"""Group fairness of a classifier, before and after a mitigation, with fairlearn baselines.

Train the classifier (or reuse it), predict the favourable class when ``P(y = 1 | x)``
exceeds ``threshold``, and evaluate on the test split, for every sensitive attribute of the
data: accuracy, the p%-rule, disparate impact, statistical parity, equal opportunity,
average odds and equalized odds differences, per-group selection rate / TPR / FPR /
accuracy / count (:mod:`toolkit.metrics.fairness`), the adversary ROC AUC (how well the
attribute can be recovered from the prediction), and the same for the intersection of the
attributes. With a defense that trains on its own (``adversarial_debiasing``), the model
before the defense is evaluated too, and the defense's per-iteration accuracy and
p%-rules are drawn. ``[baselines] fairlearn = [...]`` adds fairlearn's MetricFrame
cross-check and its mitigations on the same split.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from toolkit.errors import UsageError
from toolkit.metrics.fairness import EmptyGroupWarning
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.data.base import DataBundle
    from toolkit.execution.context import TaskContext


class FairnessTask:
    """Group-fairness evaluation (``task = "fairness"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``accuracy`` and, per attribute under ``attributes``,
    ``p_rule``, ``disparate_impact``, ``statistical_parity_difference``,
    ``equal_opportunity_difference``, ``average_odds_difference``,
    ``equalized_odds_difference``, ``adversary_auc`` and ``groups`` (per-group rates);
    ``intersection`` for the attributes combined; ``before`` the same for the model before a
    training-loop defense; ``baselines`` fairlearn's numbers. Per sample
    (``samples/test.npz``): ``label``, ``probability`` and ``prediction`` of the final model
    (``..._before`` for the model before the defense) and ``group_<attribute>`` (1 =
    privileged).

    Args:
        threshold: predict the favourable class when its probability exceeds this (default 0.5).
        intersections: also evaluate the intersection of all attributes (default true).
        adversary_auc: fit an adversary to recover each attribute from the prediction and
            report its test ROC AUC (default true).
        baseline_sensitive: the attributes fairlearn's mitigations protect (default
            ``["sex"]``, as in the reference measurements; several are combined).
        baseline_epochs: epochs of fairlearn's AdversarialFairnessClassifier (default 10).
    """

    uses = ("model", "train", "defenses", "baselines")
    baselines: ClassVar = {
        "fairlearn": ("metricframe", "adversarial", "exponentiated_gradient", "threshold_optimizer")
    }

    def __init__(
        self,
        *,
        threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5,
        intersections: bool = True,
        adversary_auc: bool = True,
        baseline_sensitive: Annotated[list[str], Field(min_length=1)] = ["sex"],  # noqa: B006
        baseline_epochs: Annotated[int, Field(ge=1)] = 10,
    ) -> None:
        self.threshold = threshold
        self.intersections = intersections
        self.adversary_auc = adversary_auc
        self.baseline_sensitive = list(baseline_sensitive)
        self.baseline_epochs = baseline_epochs

    def run(self, ctx: TaskContext) -> TaskResult:
        """Evaluate the model (and the model before its defense), then the baselines."""
        from toolkit import plots
        from toolkit.tasks import kit

        data = ctx.data()
        attrs = self._attributes(data)
        model = ctx.model()
        defended = bool(ctx.recipe.family("defenses", "train"))
        figures: dict[str, Figure] = kit.training_curves(ctx)

        for line in self.empty_groups(data):
            ctx.log.info(f"warning: {line}", style="yellow")
        with ctx.log.stage("evaluate"), warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyGroupWarning)  # said once above, with the names
            after, metrics, rows, samples = self._evaluate_models(
                ctx, model, data, figures, defended=defended
            )
        for name, history in (ctx.defended().history if defended else {}).items():
            if history:
                figures[f"{name}_history"] = plots.debiasing_history(history, attrs)

        requested = ctx.recipe.recipe.baselines.get("fairlearn", [])
        if requested:
            with ctx.log.stage("baselines"), warnings.catch_warnings():
                warnings.simplefilter("ignore", EmptyGroupWarning)
                base_rows, base_metrics = self._baselines(ctx, data, requested, after)
            metrics["baselines"] = {"fairlearn": base_metrics}
            rows += base_rows
            self._log_metricframe(ctx, base_metrics)
        tables = [self._summary_table(data, rows), self._group_table(after["metrics"], data)]
        return TaskResult(metrics=metrics, tables=tables, figures=figures, samples={"test": samples})

    @staticmethod
    def empty_groups(data: DataBundle) -> list[str]:
        """A line for each group of a sensitive attribute with no test sample: its
        between-group metrics are NaN (:mod:`toolkit.metrics.fairness`), never parity."""
        lines = []
        for attr, names in data.info.sensitive.items():
            counts = np.bincount(data.test.groups[attr].numpy(), minlength=2)
            for code, name in enumerate(names):
                if counts[code] == 0:
                    lines.append(
                        f"{attr}: no test sample is in the group '{name}', so the between-group "
                        f"metrics of {attr} (p%-rule, equalized odds...) are NaN"
                    )
        return lines

    def _attributes(self, data: DataBundle) -> list[str]:
        """The data's sensitive attributes, checked against ``baseline_sensitive``.

        Raises:
            UsageError: the data has no sensitive attributes, or lacks one of ``baseline_sensitive``.
        """
        attrs = list(data.info.sensitive)
        if not attrs:
            raise UsageError(
                f"the fairness task needs sensitive attributes, but the dataset '{data.info.name}' has none; "
                "use a dataset such as adult"
            )
        unknown = [a for a in self.baseline_sensitive if a not in attrs]
        if unknown:
            raise UsageError(
                f"evaluate.baseline_sensitive: {unknown} not among the data's attributes {attrs}"
            )
        return attrs

    def _evaluate_models(
        self,
        ctx: TaskContext,
        model: nn.Module,
        data: DataBundle,
        figures: dict[str, Figure],
        *,
        defended: bool,
    ) -> tuple[dict[str, Any], dict[str, Any], list[list[Any]], dict[str, np.ndarray]]:
        """Evaluate the final model and, after a defense, the model before it; draws their probabilities.

        Args:
            ctx: the run.
            model: the final model.
            data: the data.
            figures: where the probability figures go.
            defended: whether a training-loop defense ran (then the trained model is evaluated too).

        Returns:
            The final model's evaluation, the metrics, the summary table's rows and the
            per-sample columns.
        """
        from toolkit import plots

        attrs = list(data.info.sensitive)
        after = self.evaluate(model, data, seed=ctx.recipe.seed)
        metrics: dict[str, Any] = {**after["metrics"], "threshold": self.threshold}
        trained = ctx.trained().seconds
        total = trained + (ctx.defended().seconds if defended else 0.0)
        rows = [["model" if not defended else "after defense", *self._row(after["metrics"], attrs, total)]]
        samples = self._samples(data, after, "")
        if defended:
            before = self.evaluate(ctx.trained().model, data, seed=ctx.recipe.seed)
            samples.update(self._samples(data, before, "_before"))
            metrics["before"] = before["metrics"]
            rows.insert(0, ["before defense", *self._row(before["metrics"], attrs, trained)])
            figures["probabilities_before"] = plots.group_distributions(
                before["p"], data.test.groups, data.info.sensitive, title="before the defense"
            )
        figures["probabilities" if not defended else "probabilities_after"] = plots.group_distributions(
            after["p"],
            data.test.groups,
            data.info.sensitive,
            title="after the defense" if defended else "",
        )
        return after, metrics, rows, samples

    @staticmethod
    def _log_metricframe(ctx: TaskContext, base_metrics: dict[str, Any]) -> None:
        """Log whether fairlearn's MetricFrame agrees with our metrics, when it was asked for."""
        check = base_metrics.get("metricframe")
        if check is not None:
            verdict = "agree" if check["agrees"] else "DISAGREE"
            ctx.log.info(
                f"fairlearn MetricFrame: {check['values_compared']} values {verdict} with ours "
                f"(largest difference {check['max_abs_difference']:.2e})"
            )

    @staticmethod
    def _summary_table(data: DataBundle, rows: list[list[Any]]) -> Table:
        """The summary table: accuracy, then p%-rule, equalized odds difference and adversary AUC
        per attribute, and seconds."""
        columns = ["model", "accuracy"]
        for a in data.info.sensitive:
            columns += [f"p%-rule {a}", f"eq. odds diff. {a}", f"adversary AUC {a}"]
        columns.append("seconds")
        return Table(title=f"Fairness on {data.info.name} (test split)", columns=columns, rows=rows)

    @staticmethod
    def _samples(data: DataBundle, result: dict[str, Any], suffix: str) -> dict[str, np.ndarray]:
        """Per-sample columns of the test split (group columns and labels once)."""
        columns = {f"probability{suffix}": result["p"], f"prediction{suffix}": result["pred"]}
        if not suffix:
            columns["label"] = data.test.y.numpy()
            for attr in data.info.sensitive:
                columns[f"group_{attr}"] = data.test.groups[attr].numpy()
        return columns

    # ------------------------------------------------------------------ evaluation

    def probabilities(self, model: nn.Module, x: Any) -> np.ndarray:
        """``P(y = 1 | x)`` for every row (softmax of the two logits)."""
        from toolkit.tasks import kit

        return kit.probabilities(model, x, device=next(model.parameters()).device)[:, 1].double().numpy()

    def evaluate(self, model: nn.Module, data: DataBundle, *, seed: int) -> dict[str, Any]:
        """Every metric of ``model`` on the test split; also returns the probabilities."""
        from toolkit.metrics import fairness as fm
        from toolkit.metrics.classification import accuracy

        if data.info.num_classes != 2:
            raise UsageError(
                f"the fairness task needs a binary label; '{data.info.name}' has {data.info.num_classes}"
            )
        p = self.probabilities(model, data.test.x)
        y = data.test.y.numpy()
        pred = (p > self.threshold).astype(int)
        out: dict[str, Any] = {"accuracy": accuracy(y, pred), "selection_rate": fm.selection_rate(pred)}
        p_train = self.probabilities(model, data.train.x) if self.adversary_auc else None
        attributes: dict[str, Any] = {}
        for attr, (unpriv, priv) in data.info.sensitive.items():
            g = data.test.groups[attr].numpy()
            report: dict[str, Any] = fm.binary_report(y, pred, g)
            if p_train is not None:
                report["adversary_auc"] = fm.adversary_auc(
                    p_train, data.train.groups[attr].numpy(), p, g, seed=seed
                )
            per = fm.group_metrics(y, pred, g)
            report["groups"] = {code: per.get(code, fm.no_samples()) for code in (0, 1)}
            report["group_names"] = {0: unpriv, 1: priv}
            attributes[attr] = report
        out["attributes"] = attributes
        if self.intersections and len(data.info.sensitive) > 1:
            labels = fm.intersection(
                {a: data.test.groups[a].numpy() for a in data.info.sensitive}, data.info.sensitive
            )
            out["intersection"] = {
                **fm.multi_group_report(y, pred, labels),
                "groups": fm.group_metrics(y, pred, labels),
            }
        return {"metrics": out, "p": p, "pred": pred}

    @staticmethod
    def _row(metrics: dict[str, Any], attrs: list[str], seconds: float | None = None) -> list[Any]:
        row: list[Any] = [metrics["accuracy"]]
        for a in attrs:
            m = metrics["attributes"][a]
            row += [m["p_rule"], m["equalized_odds_difference"], m.get("adversary_auc", float("nan"))]
        row.append("" if seconds is None else seconds)
        return row

    @staticmethod
    def _group_table(metrics: dict[str, Any], data: DataBundle) -> Table:
        rows = []
        for attr, report in metrics["attributes"].items():
            for code, m in report["groups"].items():
                rows.append([f"{attr}={report['group_names'][code]}", m["count"], m["selection_rate"],
                             m["tpr"], m["fpr"], m["accuracy"]])  # fmt: skip
        if "intersection" in metrics:
            for label, m in metrics["intersection"]["groups"].items():
                rows.append([label, m["count"], m["selection_rate"], m["tpr"], m["fpr"], m["accuracy"]])
        return Table(
            title="Per group (test split)",
            columns=["group", "count", "selection rate", "TPR", "FPR", "accuracy"],
            rows=rows,
        )

    # ------------------------------------------------------------------ baselines

    def _baselines(
        self, ctx: TaskContext, data: DataBundle, requested: list[str], ours: dict[str, Any]
    ) -> tuple[list[list[Any]], dict[str, Any]]:
        """fairlearn's MetricFrame cross-check of ``ours`` and its mitigations on the same split
        (:mod:`toolkit.baselines.fairness`): the summary table's rows and the metrics."""
        import torch

        from toolkit.baselines.fairness import compare

        pretrained = ctx.trained().model
        out = compare(
            data, requested, ours, protect=self.baseline_sensitive, seed=ctx.recipe.seed,
            epochs=self.baseline_epochs, log=ctx.log.info,
            proba=lambda x: self.probabilities(pretrained, torch.as_tensor(x)),
        )  # fmt: skip
        protected, attrs = "+".join(self.baseline_sensitive), list(data.info.sensitive)
        rows = [
            [f"fairlearn {name} ({protected})", *self._row(m, attrs, m["seconds"])]
            for name, m in out.items()
            if name != "metricframe"
        ]
        return rows, out
