"""The audit: one model, every trust check that applies, one verdict per check.

Each check reads the run's one forward pass over the test split and returns a verdict
(``pass``, ``warn``, ``fail`` or ``skipped`` with its reason; :mod:`toolkit.audit.verdicts`)
against thresholds the recipe can set in ``[evaluate]``. The report opens with the table of
verdicts, then a section per check; ``metrics.json`` holds ``verdict`` (the worst) and, for
each of the checks ``performance``, ``calibration``, ``robustness``, ``ood``, ``fairness``,
``explanations`` and ``backdoor``, ``checks.<check>.verdict``, ``checks.<check>.reason`` and
its numbers, so a CI pipeline reads them.

The checks: ``performance`` (:mod:`toolkit.audit.performance`), ``calibration``
(:mod:`toolkit.audit.calibration`), ``robustness`` (:mod:`toolkit.audit.robustness`),
``ood`` (:mod:`toolkit.audit.ood`), ``fairness`` (:mod:`toolkit.audit.fairness`),
``explanations`` (:mod:`toolkit.audit.explanations`) and ``backdoor``
(:mod:`toolkit.audit.backdoor`); one that does not apply is ``skipped`` and says why.
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
        strip_samples: test inputs STRIP screens in the backdoor check (default 1000).
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
        eps: the robustness check's L-inf budget (default 8/255 for images, RobustBench's for
            CIFAR-10; 0.1 standard deviation for standardized table features).
        robust_samples: test samples the robustness check attacks (default 200, seeded).
        square_queries: queries of the black-box Square attack per image (default 1000).
        robust_warn: robustness warns when AutoAttack (images; PGD-20 for tables; the worst
            text augmentation for text, on the skill above chance) leaves less than this share
            of the clean accuracy (0.5).
        robust_fail: and fails below this share (0.1).
        text_augmenters: the text robustness check's augmentations, tables with ``name`` and
            parameters (default character noise, keyboard typos, word deletion and swaps).
        occupations: the gender-bias probes' occupations file (text fairness; default
            ``$TOOLKIT_DATA/text/occupations_female_percentage.json``).
        favourable: the favourable class of the probes (default ``acceptable`` where the data
            has it, else the last class).
        flip_warn: text fairness warns when the counterfactual flip rate is above this (0.05).
        explainers: the explanation check's methods, names or tables with ``name`` and the
            explainer's parameters (default saliency and integrated gradients for images and
            tables; integrated gradients, SHAP and LIME for text).
        explain_samples: test inputs the explanation check explains (default 8; 3 for text).
        sanity_threshold: an explainer passes the randomization sanity check when the mean
            over the inputs of |Spearman| between the trained and a randomized model's
            attributions is below this (default 0.5; the ``explain`` task's threshold of the
            same name reads |mean Spearman|, which is never larger).
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
        strip_samples: Annotated[int, Field(ge=1)] = 1000,
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
        square_queries: Annotated[int, Field(ge=1)] = 1000,
        robust_warn: Annotated[float, Field(ge=0, le=1)] = 0.5,
        robust_fail: Annotated[float, Field(ge=0, le=1)] = 0.1,
        text_augmenters: list[dict[str, Any]] = [],  # noqa: B006 - read-only default: AUGMENTERS
        occupations: str | None = None,
        favourable: str | None = None,
        flip_warn: Annotated[float, Field(ge=0, le=1)] = 0.05,
        explainers: list[str | dict[str, Any]] = [],  # noqa: B006 - read-only default: the modality's
        explain_samples: Annotated[int, Field(ge=1, le=200)] | None = None,
        sanity_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5,
        intended_use: str = "",
        out_of_scope: str = "",
    ) -> None:
        self.checks: list[str] = list(checks) or list(CHECKS)
        self.chance_margin, self.recall_ratio = chance_margin, recall_ratio
        self.ece_warn, self.ece_fail, self.n_bins = ece_warn, ece_fail, n_bins
        self.scan_steps, self.scan_samples = scan_steps, scan_samples
        self.anomaly_threshold, self.strip_samples = anomaly_threshold, strip_samples
        self.detectors = list(detectors)
        self.groups = {"near": [dict(t) for t in near], "far": [dict(t) for t in far]}
        self.ood_split, self.ood_samples = ood_split, ood_samples
        self.ood_warn, self.ood_fail = ood_warn, ood_fail
        self.p_rule_fail, self.eo_warn, self.eo_fail = p_rule_fail, eo_warn, eo_fail
        self.eps, self.robust_samples, self.square_queries = eps, robust_samples, square_queries
        self.robust_warn, self.robust_fail = robust_warn, robust_fail
        self.text_augmenters = [dict(t) for t in text_augmenters]
        self.occupations, self.favourable, self.flip_warn = occupations, favourable, flip_warn
        self.explainers = [dict(e) if isinstance(e, dict) else e for e in explainers]
        self.explain_samples = explain_samples
        self.sanity_threshold = sanity_threshold
        self.intended_use, self.out_of_scope = intended_use, out_of_scope

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """The OOD data sets are images, compared with image data; the detectors exist."""
        from toolkit.registry import registry
        from toolkit.tasks.ood import check_sets

        params = recipe.task.params
        problems = check_sets(recipe) if params.get("near") or params.get("far") else []
        for key, kind in (("detectors", "detectors"), ("explainers", "explainers")):
            known = set(registry(kind).names())
            for i, entry in enumerate(params.get(key) or []):
                name = entry.get("name") if isinstance(entry, dict) else entry
                if name not in known:
                    message = f"no {kind[:-1]} '{name}' (toolkit list {kind})"
                    problems.append(Problem(f"evaluate.{key}.{i}", message))
        return problems + _check_augmenters(params.get("text_augmenters") or [])

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
        from toolkit.audit.card import card_table, model_card

        card_md, card = model_card(
            ctx, results, intended_use=self.intended_use, out_of_scope=self.out_of_scope
        )
        files = {"model_card.md": card_md, "model_card.json": json.dumps(card, indent=1, allow_nan=True)}
        tables.append(card_table(card))
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
        if name == "explanations":
            return self._explanations(ctx)
        if name == "fairness" and data.info.modality == "text" and not data.info.sensitive:
            from toolkit.audit.text import text_fairness

            with ctx.log.stage("probe"):
                return text_fairness(ctx, occupations=self.occupations, favourable=self.favourable,
                                     p_rule_fail=self.p_rule_fail, flip_warn=self.flip_warn)  # fmt: skip
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
        """AutoAttack (images), a PGD curve and the sanity checks on a seeded sample of the test
        split; the text augmentations for text."""
        from toolkit.errors import UsageError

        data = ctx.data()
        text = data.info.modality == "text"
        try:
            if text:
                from toolkit.audit.text import text_robustness

                with ctx.log.stage("augment"):
                    augmenters = self.text_augmenters or None
                    return text_robustness(ctx, augmenters=augmenters, robust_warn=self.robust_warn,
                                           robust_fail=self.robust_fail)  # fmt: skip
            return self._attacks(ctx)
        except UsageError as exc:  # an extra not installed, too few classes, no stored sentences
            what = "the text augmentations" if text else "the attacks"
            return CheckResult("skipped", f"{what} cannot run: {exc}")

    def _attacks(self, ctx: TaskContext) -> CheckResult:
        from toolkit.audit.robustness import robustness
        from toolkit.data.inputs import to_model_input

        data = ctx.data()
        x = to_model_input(data.test.x)
        if not isinstance(x, torch.Tensor):
            return CheckResult("skipped", "the attacks move inputs that are one tensor (images, tables)")
        with ctx.log.stage("attack"):
            return robustness(ctx.model().to(ctx.device), x.to(ctx.device), data.test.y.to(ctx.device),
                              data.info, eps=self.eps if self.eps is not None else _budget(data.info),
                              samples=self.robust_samples, seed=ctx.recipe.seed,
                              robust_warn=self.robust_warn, robust_fail=self.robust_fail,
                              square_queries=self.square_queries)  # fmt: skip

    def _explanations(self, ctx: TaskContext) -> CheckResult:
        """Attributions of a seeded few test inputs, with the model-randomization sanity check."""
        from toolkit.audit.explanations import explanations
        from toolkit.data.inputs import take, to_model_input

        data = ctx.data()
        k = self.explain_samples or (3 if data.info.modality == "text" else 8)
        generator = torch.Generator().manual_seed(ctx.recipe.seed)
        index = torch.randperm(len(data.test), generator=generator)[:k].sort().values
        texts = [data.test.text[i] for i in index.tolist()] if data.test.text is not None else None
        x = to_model_input(take(data.test.x, index))
        with ctx.log.stage("explain"):
            return explanations(ctx.model().to(ctx.device), x, data.info,
                                methods=self.explainers or None, seed=ctx.recipe.seed,
                                sanity_threshold=self.sanity_threshold, texts=texts,
                                device=ctx.device)  # fmt: skip

    def _backdoor(self, ctx: TaskContext) -> CheckResult:
        """Neural Cleanse on the model and the clean test images; STRIP on the test inputs and
        the training-data screens beside it (:mod:`toolkit.audit.backdoor_data`)."""
        from toolkit.audit import backdoor_data
        from toolkit.audit.backdoor import backdoor
        from toolkit.data.inputs import to_model_input

        data, model = ctx.data(), ctx.model().to(ctx.device)
        x = to_model_input(data.test.x)
        with ctx.log.stage("scan"):
            found = backdoor(model, x, data.info.class_names, modality=data.info.modality,
                             seed=ctx.recipe.seed, steps=self.scan_steps, samples=self.scan_samples,
                             anomaly_threshold=self.anomaly_threshold)  # fmt: skip
        # images only (Neural Cleanse skips the rest), and a training split to blend in
        if found.verdict == "skipped" or len(data.train) < 20:
            return found
        with ctx.log.stage("strip"):
            strip = backdoor_data.strip_screen(model, data.train.x, data.test.x, seed=ctx.recipe.seed,
                                               samples=self.strip_samples, device=ctx.device,
                                               batch_size=ctx.eval_batch_size)  # fmt: skip
        screen = self._training_screen(ctx)
        found.metrics |= {"strip": strip, "training_data": screen}
        found.tables += backdoor_data.tables(strip, screen)
        if strip["suspicious"]:
            found.reason += (f"; STRIP flags {strip['flagged_share']:.1%} of the test inputs (above "
                             f"{5 * strip['frr']:.0%}; clean ones: 1% to 3%): the test split may carry "
                             "triggered inputs")  # fmt: skip
            found.verdict = "warn" if found.verdict == "pass" else found.verdict
        return found

    def _training_screen(self, ctx: TaskContext) -> dict[str, Any] | None:
        """Activation clustering and spectral signatures of the training split's features, or
        ``None`` for a model whose penultimate layer cannot be read."""
        from toolkit.audit.backdoor_data import training_screen
        from toolkit.errors import UsageError

        try:
            train = ctx.outputs("train")
            features = train.features.flatten(1).numpy()
        except UsageError as exc:
            ctx.log.info(f"training-data screens skipped: {exc}", style="yellow")
            return None
        labels = ctx.data().train.y.numpy()
        return training_screen(features, labels, ctx.data().info.class_names, seed=ctx.recipe.seed)


def _check_augmenters(tables: list[Any]) -> list[Problem]:
    """The text augmentations build (a known ``name`` and parameters it takes)."""
    from toolkit.errors import UsageError
    from toolkit.tasks.text_robustness import build_augmenters

    try:
        build_augmenters(tables, key="evaluate.text_augmenters")
    except UsageError as exc:
        return [Problem("evaluate.text_augmenters", str(exc))]
    return []


def _budget(info: Any) -> float:
    """The customary L-inf budget: 8/255 for images, 0.1 standard deviation for tables."""
    return 8 / 255 if info.modality == "image" else 0.1


__all__ = ["CHECKS", "AuditTask"]
