"""The audit: one model, every trust check that applies, one verdict per check.

Each check reads the run's one forward pass over the test split and returns a verdict
(``pass``, ``warn``, ``fail`` or ``skipped`` with its reason; :mod:`toolkit.audit.verdicts`)
against thresholds the recipe can set in ``[evaluate]``. The report opens with the table of
verdicts, then a section per check; ``metrics.json`` holds ``verdict`` (the worst) and, for
each of the checks ``performance``, ``calibration``, ``robustness``, ``ood``, ``fairness``,
``explanations`` and ``backdoor``, ``checks.<check>.verdict``, ``checks.<check>.reason`` and
its numbers, so a CI pipeline reads them.

This version runs the ``performance`` (:mod:`toolkit.audit.performance`), ``calibration``
(:mod:`toolkit.audit.calibration`), ``robustness`` (:mod:`toolkit.audit.robustness`),
``ood`` (:mod:`toolkit.audit.ood`), ``fairness``
(:mod:`toolkit.audit.fairness`) and ``backdoor`` (:mod:`toolkit.audit.backdoor`, Neural
Cleanse on the model alone) checks; the others are ``skipped`` and say that this version
does not run them yet.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import torch
from pydantic import Field

from toolkit.audit.ood import DETECTORS
from toolkit.audit.verdicts import CheckResult, worst
from toolkit.errors import Problem
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext
    from toolkit.recipe import ResolvedRecipe

#: Every check of the audit, in the report's order.
CHECKS = ("performance", "calibration", "robustness", "ood", "fairness", "explanations", "backdoor")
#: The checks this version runs.
BUILT = ("performance", "calibration", "robustness", "ood", "fairness", "backdoor")
Check = Literal["performance", "calibration", "robustness", "ood", "fairness", "explanations", "backdoor"]


class AuditTask:
    """Audit a model (``task = "audit"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``verdict`` (the worst of the checks' verdicts) and
    ``checks.<check>`` with ``verdict``, ``reason`` and the check's numbers. Files:
    ``model_card.md`` and ``model_card.json`` (:mod:`toolkit.audit.card`). Figures: each
    check's, prefixed with its name (``performance_confusion``, ``calibration_reliability``).
    Per sample (``samples/audit.npz``): ``label``, ``prediction``, ``confidence``.

    Args:
        checks: the checks to run (default: all of them); the others are ``skipped``.
        chance_margin: performance fails when the balanced accuracy is within this of chance
            (default 0.05).
        recall_ratio: performance warns when a class's recall is below this times the
            balanced accuracy (default 0.5).
        ece_warn: calibration warns above this ECE (default 0.05, Guo et al. 2017).
        ece_fail: calibration fails above this ECE (default 0.15).
        n_bins: equal-width confidence bins of the ECE (default 15).
        scan_steps: Neural Cleanse's optimizer steps (backdoor check; default 1000).
        scan_samples: clean test images Neural Cleanse stamps (default 500).
        anomaly_threshold: the backdoor check flags a class whose reversed trigger is this many
            robust standard deviations below the median (default 2, Wang et al. 2019).
        detectors: the OOD check's detectors (default those that read the shared forward pass
            alone: msp, max_logit, energy, mahalanobis, knn, vim).
        near: near-OOD data sets for the OOD check (dataset tables or names), beside the
            dataset's held-out classes.
        far: far-OOD data sets, likewise.
        ood_split: the split of each OOD data set scored (``test`` or ``all``).
        ood_samples: at most this many images of each OOD data set (default all).
        ood_warn: the OOD check warns when an OOD split's best AUROC is below this (0.85).
        ood_fail: and fails below this (0.7).
        p_rule_fail: fairness fails when an attribute's p%-rule is below this (80, the
            four-fifths rule).
        eo_warn: fairness warns when an equalized odds difference is above this (0.1).
        eo_fail: and fails above this (0.2).
        eps: the robustness check's L-inf budget (default 8/255, RobustBench's for CIFAR-10).
        robust_samples: test samples the robustness check attacks (default 200, seeded).
        robust_warn: robustness warns when AutoAttack leaves less than this share of the
            clean accuracy (0.5).
        robust_fail: and fails below this share (0.1).
        intended_use: what the model is for, in the model card (default the recipe's
            ``description``).
        out_of_scope: what it must not be used for, in the model card.
    """

    uses = ("model", "train")
    requires = ()
    #: OOD data sets are dataset components, resolved and validated like ``[dataset]``.
    nested: ClassVar[dict[str, tuple[str, ...]]] = {"near": ("datasets", "*"), "far": ("datasets", "*")}

    def __init__(
        self,
        *,
        checks: list[Check] = [],  # noqa: B006 - read-only default: every check
        chance_margin: Annotated[float, Field(ge=0, lt=1)] = 0.05,
        recall_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5,
        ece_warn: Annotated[float, Field(ge=0, le=1)] = 0.05,
        ece_fail: Annotated[float, Field(ge=0, le=1)] = 0.15,
        n_bins: Annotated[int, Field(ge=2, le=1000)] = 15,
        scan_steps: Annotated[int, Field(ge=1)] = 1000,
        scan_samples: Annotated[int, Field(ge=1)] = 500,
        anomaly_threshold: Annotated[float, Field(gt=0)] = 2.0,
        detectors: list[str] = list(DETECTORS),  # noqa: B006 - read-only default
        near: list[Any] = [],  # noqa: B006 - read-only default; names or dataset tables
        far: list[Any] = [],  # noqa: B006 - read-only default
        ood_split: Literal["test", "all"] = "test",
        ood_samples: Annotated[int, Field(ge=1)] | None = None,
        ood_warn: Annotated[float, Field(ge=0, le=1)] = 0.85,
        ood_fail: Annotated[float, Field(ge=0, le=1)] = 0.7,
        p_rule_fail: Annotated[float, Field(ge=0, le=100)] = 80.0,
        eo_warn: Annotated[float, Field(ge=0, le=1)] = 0.1,
        eo_fail: Annotated[float, Field(ge=0, le=1)] = 0.2,
        eps: Annotated[float, Field(gt=0)] | None = None,
        robust_samples: Annotated[int, Field(ge=1)] = 200,
        robust_warn: Annotated[float, Field(ge=0, le=1)] = 0.5,
        robust_fail: Annotated[float, Field(ge=0, le=1)] = 0.1,
        intended_use: str = "",
        out_of_scope: str = "",
    ) -> None:
        self.checks: list[str] = list(checks) or list(CHECKS)
        self.chance_margin, self.recall_ratio = chance_margin, recall_ratio
        self.ece_warn, self.ece_fail, self.n_bins = ece_warn, ece_fail, n_bins
        self.scan_steps, self.scan_samples = scan_steps, scan_samples
        self.anomaly_threshold = anomaly_threshold
        self.detectors = list(detectors)
        self.groups = {"near": [dict(t) for t in near], "far": [dict(t) for t in far]}
        self.ood_split, self.ood_samples = ood_split, ood_samples
        self.ood_warn, self.ood_fail = ood_warn, ood_fail
        self.p_rule_fail, self.eo_warn, self.eo_fail = p_rule_fail, eo_warn, eo_fail
        self.eps, self.robust_samples = eps, robust_samples
        self.robust_warn, self.robust_fail = robust_warn, robust_fail
        self.intended_use, self.out_of_scope = intended_use, out_of_scope

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """The OOD data sets are images, compared with image data; the detectors exist."""
        from toolkit.registry import registry
        from toolkit.tasks.ood import check_sets

        params = recipe.task.params
        problems = check_sets(recipe) if params.get("near") or params.get("far") else []
        known = set(registry("detectors").names())
        for i, name in enumerate(params.get("detectors") or []):
            if name not in known:
                message = f"no detector '{name}' (toolkit list detectors)"
                problems.append(Problem(f"evaluate.detectors.{i}", message))
        return problems

    def run(self, ctx: TaskContext) -> TaskResult:
        """Run every asked check on the test split's one forward pass."""
        data = ctx.data()
        test = ctx.outputs("test")
        results = {name: self._check(ctx, name, test) for name in CHECKS}
        verdict = worst(r.verdict for r in results.values())
        for name, r in results.items():
            ctx.log.info(f"check {name}: {r.verdict.upper()}: {r.reason}")
        ctx.log.info(f"audit verdict: {verdict.upper()}")
        metrics: dict[str, Any] = {
            "verdict": verdict,
            "checks": {
                n: {"verdict": r.verdict, "reason": r.reason, **r.metrics} for n, r in results.items()
            },
            "n_test": len(data.test),
        }
        table = Table(
            title=f"Audit of {ctx.recipe.name}: {verdict.upper()}",
            columns=["check", "verdict", "reason"],
            rows=[[n, r.verdict.upper(), r.reason] for n, r in results.items()],
        )
        tables = [table, *(t for r in results.values() for t in r.tables)]
        figures = {f"{n}_{k}": f for n, r in results.items() for k, f in r.figures.items()}
        from toolkit.audit.card import model_card

        card_md, card = model_card(
            ctx, results, intended_use=self.intended_use, out_of_scope=self.out_of_scope
        )
        files = {"model_card.md": card_md, "model_card.json": json.dumps(card, indent=1, allow_nan=True)}
        tables.append(Table(title="Model card (model_card.md)", columns=["section", "content"],
                            rows=[["intended use", card["intended_use"]],
                                  ["out-of-scope uses", card["out_of_scope_uses"]],
                                  *(["caveat", c] for c in card["caveats"])]))  # fmt: skip
        probabilities = test.probabilities.numpy()
        samples = {"audit": {"label": data.test.y.numpy(), "prediction": probabilities.argmax(1),
                             "confidence": probabilities.max(1)}}  # fmt: skip
        return TaskResult(metrics=metrics, tables=tables, figures=figures, samples=samples, files=files)

    def _check(self, ctx: TaskContext, name: str, test: Any) -> CheckResult:
        """One check, or ``skipped`` with the reason."""
        from toolkit.audit.calibration import calibration
        from toolkit.audit.performance import performance

        if name not in self.checks:
            return CheckResult("skipped", "not asked for (evaluate.checks)")
        if name not in BUILT:
            return CheckResult("skipped", f"this version of the audit does not run the {name} check yet")
        data = ctx.data()
        y = data.test.y.numpy()
        if name == "performance":
            pred = test.predictions.numpy()
            return performance(y, pred, data.info.class_names, chance_margin=self.chance_margin,
                               recall_ratio=self.recall_ratio)  # fmt: skip
        if name == "backdoor":
            return self._backdoor(ctx)
        if name == "robustness":
            return self._robustness(ctx)
        if name == "fairness":
            from toolkit.audit.fairness import fairness

            groups = {a: data.test.groups[a].numpy() for a in data.info.sensitive}
            return fairness(y, test.predictions.numpy(), groups, data.info.sensitive,
                            classes=data.info.num_classes, p_rule_fail=self.p_rule_fail, eo_warn=self.eo_warn,
                            eo_fail=self.eo_fail)  # fmt: skip
        if name == "ood":
            from toolkit.audit.ood import ood

            return ood(ctx, detectors=self.detectors, groups=self.groups, split=self.ood_split,
                       samples=self.ood_samples, ood_warn=self.ood_warn, ood_fail=self.ood_fail)  # fmt: skip
        logits = test.logits.double().numpy()
        return calibration(logits, y, seed=ctx.recipe.seed, n_bins=self.n_bins, ece_warn=self.ece_warn,
                           ece_fail=self.ece_fail)  # fmt: skip

    def _robustness(self, ctx: TaskContext) -> CheckResult:
        """AutoAttack, a PGD curve and the sanity checks on a seeded sample of the test split."""
        from toolkit.audit.robustness import robustness
        from toolkit.data.inputs import to_model_input

        data = ctx.data()
        x = to_model_input(data.test.x)
        if not isinstance(x, torch.Tensor):
            return CheckResult("skipped", "AutoAttack attacks inputs that are one tensor (images)")
        from toolkit.errors import UsageError

        try:
            with ctx.log.stage("attack"):
                return robustness(ctx.model().to(ctx.device), x.to(ctx.device), data.test.y.to(ctx.device),
                                  data.info, eps=self.eps if self.eps is not None else 8 / 255,
                                  samples=self.robust_samples, seed=ctx.recipe.seed,
                                  robust_warn=self.robust_warn, robust_fail=self.robust_fail)  # fmt: skip
        except UsageError as exc:  # AutoAttack cannot run here (its extra, fewer than four classes)
            return CheckResult("skipped", f"AutoAttack cannot run: {exc}")

    def _backdoor(self, ctx: TaskContext) -> CheckResult:
        """Neural Cleanse on the model and the clean test images."""
        from toolkit.audit.backdoor import backdoor
        from toolkit.data.inputs import to_model_input

        data = ctx.data()
        x = to_model_input(data.test.x)
        with ctx.log.stage("scan"):
            return backdoor(ctx.model().to(ctx.device), x, data.info.class_names, modality=data.info.modality,
                            seed=ctx.recipe.seed, steps=self.scan_steps, samples=self.scan_samples,
                            anomaly_threshold=self.anomaly_threshold)  # fmt: skip


__all__ = ["BUILT", "CHECKS", "AuditTask"]
