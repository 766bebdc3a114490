"""Out-of-distribution detection: classes left out of training, and other data sets.

Two protocols, alone or together:

- **Leave classes out** (Hendrycks & Gimpel, ICLR 2017): train on the in-distribution
  classes, score the in-distribution test split and the held-out classes' test samples with
  every detector, pick the threshold at which a fraction ``tpr`` of the in-distribution
  test samples is accepted, and report the fraction of held-out samples accepted at that
  threshold, with AUROC, AUPR-In and AUPR-Out (see :mod:`toolkit.metrics.ood`).
- **Near and far OOD data sets** (OpenOOD v1.5, Zhang et al. 2023): the same metrics against
  each data set of ``near`` and ``far`` (dataset tables, :mod:`toolkit.tasks.ood_sets`),
  and their mean per group.

Logits and features of each split are computed once and shared by all detectors; each
detector is fitted once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from toolkit.capabilities import DETECTOR
from toolkit.errors import Problem, UsageError
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext
    from toolkit.recipe import ResolvedRecipe


class OODTask:
    """OOD detection (``task = "ood"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``accuracy`` (in-distribution test accuracy), ``tpr``, and
    for held-out classes ``n_in``, ``n_out`` and, per detector (``detectors.<name>``),
    ``threshold``, ``fpr_at_tpr`` (held-out samples accepted at the threshold),
    ``fpr_at_tpr_ood_positive`` (in-distribution samples rejected when a fraction ``tpr`` of
    the held-out ones is rejected: the FPR95 of pytorch-ood and OpenOOD), ``auroc``,
    ``aupr_in``, ``aupr_out``. With OOD data sets: the same per set
    (``sets.<set>.detectors.<name>``, with the set's ``group`` and ``n``) and their means per
    group (``groups.near.<name>.auroc``, ...). Figures: training curves, a score histogram
    per detector, the ROC curves of all detectors per OOD split, and with data sets a grid of
    AUROCs. Per sample (``samples/ood.npz``): ``held_out`` (1 for the held-out split),
    ``label``, ``prediction``, ``probabilities`` and ``score_<detector>``; per data set
    (``samples/ood_<set>.npz``): ``prediction`` and ``score_<detector>``.

    Args:
        tpr: fraction of in-distribution test samples accepted at the threshold (default 0.95).
        near: near-OOD data sets: dataset tables (``{name = "cifar100", root = "..."}``) or
            names (``"cifar100"``); OpenOOD's near sets for CIFAR-10 are CIFAR-100 and
            TinyImageNet.
        far: far-OOD data sets, likewise; OpenOOD's for CIFAR-10 are MNIST, SVHN, Textures and
            Places365.
        ood_split: the split of each data set that is scored: ``test`` (default) or ``all``
            (train, test and held-out images).
        ood_samples: score at most this many images of each data set (a seeded sample;
            default all of them).
    """

    uses = ("model", "train", "detectors")
    requires = ("detectors",)
    needs: ClassVar = {"detectors": DETECTOR}
    #: The data sets of ``near`` and ``far`` are dataset components, resolved and validated
    #: (and their code fingerprinted) like the recipe's own ``[dataset]``.
    nested: ClassVar[dict[str, tuple[str, ...]]] = {"near": ("datasets", "*"), "far": ("datasets", "*")}

    def __init__(
        self,
        *,
        tpr: Annotated[float, Field(gt=0, le=1)] = 0.95,
        near: list[Any] = [],  # noqa: B006 - read-only default; names or dataset tables, resolved as nested
        far: list[Any] = [],  # noqa: B006 - read-only default
        ood_split: Literal["test", "all"] = "test",
        ood_samples: Annotated[int, Field(ge=1)] | None = None,
    ) -> None:
        self.tpr = tpr
        self.groups = {"near": _tables(near), "far": _tables(far)}
        self.ood_split = ood_split
        self.ood_samples = ood_samples

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """The recipe must give OOD data: held-out classes (of a dataset that can leave
        classes out), or data sets in ``near`` / ``far``."""
        if recipe.task.params.get("near") or recipe.task.params.get("far"):
            return check_sets(recipe)
        spec = recipe.dataset
        params = {p.name for p in spec.entry.signature().params}
        if "holdout" not in params:
            return [
                Problem(
                    "dataset.name",
                    f"the ood task needs OOD data, but dataset '{spec.name}' has no holdout parameter; "
                    'give OOD data sets (evaluate.far = ["svhn"]) or use a dataset that can leave '
                    "classes out (toolkit show datasets NAME)",
                )
            ]
        if not spec.params.get("holdout"):
            return [
                Problem(
                    "dataset.holdout",
                    'the ood task needs OOD data: held-out classes (holdout = ["frog"]) or OOD data '
                    'sets (evaluate.far = ["svhn"])',
                )
            ]
        return []

    def run(self, ctx: TaskContext) -> TaskResult:
        """Train (or reuse) the model, score every detector and evaluate it."""
        from toolkit.metrics.classification import accuracy
        from toolkit.tasks import kit, ood_sets

        data = ctx.data()
        held = data.ood is not None and len(data.ood) > 0
        sets = ood_sets.load_sets(
            self.groups, data.info, seed=ctx.recipe.seed, split=self.ood_split, samples=self.ood_samples
        )
        if not held and not sets:
            raise UsageError(
                "the ood task needs OOD data: set dataset.holdout (e.g. holdout = "
                f'["{data.info.class_names[-1]}"]) or give OOD data sets in evaluate.near / evaluate.far'
            )
        for found_set in sets:
            ctx.log.info(f"OOD data set {found_set.key} ({found_set.group}): {found_set.described}")
        test = ctx.outputs("test")
        acc = accuracy(data.test.y.numpy(), test.predictions.numpy())
        ctx.log.info(f"in-distribution test accuracy {acc:.4f}")
        model = ctx.model()
        outside = {"": ctx.outputs("ood")} if held else {}
        outside |= {s.key: ctx.outputs_of(model, s.x) for s in sets}
        found = kit.score_sets(
            ctx, model, fit_on=ctx.outputs("train"), inside=test, outside=outside, tpr=self.tpr
        )
        result = TaskResult(metrics={"accuracy": acc, "tpr": self.tpr}, figures=kit.training_curves(ctx))
        if held:
            self._held_out(result, data, test, outside[""], found[""])
        if sets:
            self._against_sets(result, sets, outside, found)
        return result

    def _held_out(self, result: TaskResult, data: Any, test: Any, held: Any, detection: Any) -> None:
        """The leave-classes-out part of ``result``: metrics, table, figures and samples."""
        from toolkit import plots

        acc = result.metrics["accuracy"]
        result.figures |= self._histograms(data.info.holdout, detection)
        result.figures["roc"] = plots.roc_curves(detection.scores, tpr=self.tpr)
        result.metrics |= {"n_in": len(data.test), "n_out": len(data.ood), "holdout": data.info.holdout,
                           "detectors": detection.metrics}  # fmt: skip
        result.tables.append(self._table(data.info.holdout, acc, detection.metrics))
        result.samples["ood"] = self.samples(data, test, held, detection.scores)

    def _against_sets(self, result: TaskResult, sets: list[Any], outside: Any, found: Any) -> None:
        """The data-set part of ``result``: per set and per group metrics, tables, figures and
        samples."""
        from toolkit import plots
        from toolkit.tasks.ood_sets import group_means

        per_set = {s.key: found[s.key].metrics for s in sets}
        groups = group_means(per_set, sets)
        result.metrics["sets"] = {
            s.key: {"group": s.group, "n": len(s.x), "detectors": per_set[s.key]} for s in sets
        }
        result.metrics["groups"] = groups
        result.tables.extend(self._set_tables(sets, per_set, groups))
        for s in sets:
            result.figures[f"roc_{s.key}"] = plots.roc_curves(
                found[s.key].scores,
                tpr=self.tpr,
                title=f"ROC: {s.key}",
                xlabel=f"{s.key} images accepted (FPR)",
            )
            result.samples[f"ood_{s.key}"] = self._set_samples(outside[s.key], found[s.key].scores)
        aurocs = {f"{s.key} ({s.group})": {d: m["auroc"] for d, m in per_set[s.key].items()} for s in sets}
        result.figures["auroc_by_set"] = plots.metric_grid(aurocs, title="AUROC per OOD data set")

    def _set_tables(
        self, sets: list[Any], per_set: dict[str, dict[str, Any]], groups: dict[str, Any]
    ) -> list[Table]:
        """The OpenOOD summary (per detector, each group's mean AUROC and FPR95) and every
        metric per set, with each group's mean."""
        pct = f"{self.tpr:g}"
        present: list[str] = [g for g in ("near", "far") if g in groups]
        detectors = list(next(iter(per_set.values())))
        columns = ["detector"]
        for g in present:
            columns += [f"{g}: AUROC", f"{g}: FPR@{pct} (OOD+)"]
        summary = Table(
            title="OOD detection against data sets: group means (OpenOOD v1.5's columns)",
            columns=columns,
            rows=[[d, *_pairs(groups, present, d)] for d in detectors],
        )
        keys = ("fpr_at_tpr", "fpr_at_tpr_ood_positive", "auroc", "aupr_in", "aupr_out")
        rows: list[list[Any]] = []
        for group in present:
            for d in detectors:
                mine = [s.key for s in sets if s.group == group]
                rows += [[d, key, group, *(per_set[key][d][k] for k in keys)] for key in mine]
                if len(mine) > 1:
                    rows.append([d, f"{group} (mean)", group, *(groups[group][d][k] for k in keys)])
        detail = Table(
            title="OOD detection per data set",
            columns=["detector", "data set", "group", f"OOD accepted @ ID TPR {pct}",
                     f"ID rejected @ OOD TPR {pct}", "AUROC", "AUPR-In", "AUPR-Out"],
            rows=rows,
        )  # fmt: skip
        return [summary, detail]

    @staticmethod
    def _set_samples(outputs: Any, curves: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per image of one OOD data set: the predicted class and each detector's score."""
        columns: dict[str, np.ndarray] = {"prediction": outputs.predictions.numpy()}
        for name, (_s_in, s_out) in curves.items():
            columns[f"score_{name}"] = s_out
        return columns

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


def _tables(items: list[Any]) -> list[dict[str, Any]]:
    """Dataset tables from a list of tables or bare names."""
    return [{"name": item} if isinstance(item, str) else dict(item) for item in items]


def _pairs(groups: dict[str, Any], present: list[str], detector: str) -> list[float]:
    """Each group's mean AUROC and FPR95 (OOD positive) of one detector, in group order."""
    out: list[float] = []
    for g in present:
        out += [groups[g][detector]["auroc"], groups[g][detector]["fpr_at_tpr_ood_positive"]]
    return out


def check_sets(recipe: ResolvedRecipe) -> list[Problem]:
    """OOD data sets (``evaluate.near`` / ``evaluate.far`` of the ``ood`` and ``audit`` tasks) are
    images, compared with image data: each one whose modality is known must say so."""
    from toolkit.recipe.checks import dataset_modality

    problems = []
    inside = dataset_modality(recipe.dataset)
    if inside not in (None, "image"):
        message = (f"OOD data sets are compared as images, but the dataset '{recipe.dataset.name}' is "
                   f"{inside}; use held-out classes (dataset.holdout) instead")  # fmt: skip
        problems.append(Problem("dataset.name", message))
    params = recipe.task.params
    where = [f"evaluate.{g}.{i}" for g in ("near", "far") for i in range(len(params.get(g) or []))]
    nested = [c for c in recipe.task.nested if c.kind == "datasets"]
    if len(nested) != len(where):  # resolution failed and said why
        return problems
    for path, spec in zip(where, nested, strict=True):  # resolved in that order: near, then far
        modality = dataset_modality(spec)
        if modality not in (None, "image"):
            message = f"the OOD data set '{spec.name}' is {modality} data, not images; give image data"
            problems.append(Problem(path, message))
    return problems
