"""Evasion: how accurate is the model under attack, and what does adversarial training buy?

For every attack and every budget in ``eps``, on (a subset of) the test split: robust
accuracy (accuracy on the adversarial examples), attack success rate (the share of
correctly classified inputs whose prediction the attack changes), and the confusion of
predictions after the attack (true class x predicted class: which classes the attack
pushes toward). Figures: robust accuracy against the budget, the confusion matrix at the
largest budget, a grid of clean and adversarial images with their labels, and the
explainers' maps of clean and adversarial images. With a defense that acts on training
batches (``adversarial_training``), the same numbers for the model trained without it.
``[baselines]`` runs ART's and torchattacks' FGSM and PGD with the same budget and, for
PGD, no random start, on the same model and images (:mod:`toolkit.baselines.attacks`):
FGSM must agree exactly, PGD within one percentage point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import torch
from pydantic import Field

from toolkit.capabilities import DETECTOR, EVASION
from toolkit.errors import Problem, UsageError
from toolkit.results import Table, TaskResult
from toolkit.tasks import evasion_figures, kit, sanity

if TYPE_CHECKING:
    from torch import nn

    from toolkit.execution.context import TaskContext
    from toolkit.recipe import Component, ResolvedRecipe


class EvasionTask:
    """Robustness to evasion attacks (``task = "evasion"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``clean_accuracy``, ``n`` and, per attack under ``attacks``,
    ``eps``, ``robust_accuracy``, ``success_rate`` and ``confusion`` (one entry per budget);
    ``headline`` AutoAttack's robust accuracy per budget when the recipe has an
    ``autoattack`` entry (RobustBench's number); ``sanity`` the sanity checks of Carlini et
    al. (2019) (:mod:`toolkit.tasks.sanity`), each
    ``{"flag", "detail"}``, and ``sanity_flags`` the checks that raised one;
    ``undefended`` holds the same for the model trained without the defenses; ``detectors``
    each detector's metrics on clean against adversarial inputs; ``baselines`` the reference
    libraries' robust accuracies and their differences from ours. Per sample
    (``samples/evasion.npz``): ``label``, ``clean_prediction`` and one
    ``prediction_<attack>_<i>`` column per attack and budget (``i`` indexes ``eps``).

    Images get image grids and explanation maps; tabular data gets per-feature attribution
    bars. Attacks move inputs within the data's input domain (standardized feature bounds on
    Adult, ``[0, 1]`` for images).

    Args:
        eps: budgets to sweep (default: each attack's own budget); ``"8/255"`` is accepted.
            Every attack must declare a budget (``toolkit.protocols.EvasionAttack.budget``).
        n: test samples attacked (default 1000; all if larger than the split).
        batch_size: samples per attack batch (default 256).
        grid: images in the clean/adversarial figure (default 8).
        tpr: share of clean inputs a detector accepts at its threshold (default 0.95).
    """

    uses = ("model", "train", "attacks", "defenses", "explainers", "detectors", "baselines")
    requires = ("attacks",)
    needs: ClassVar = {"attacks": EVASION, "detectors": DETECTOR}
    baselines: ClassVar = {"art": ("fgsm", "pgd"), "torchattacks": ("fgsm", "pgd")}

    def __init__(
        self,
        *,
        eps: list[Annotated[float, Field(ge=0)]] = [],  # noqa: B006 - read-only default
        n: Annotated[int, Field(ge=1)] = 1000,
        batch_size: Annotated[int, Field(ge=1)] = 256,
        grid: Annotated[int, Field(ge=0)] = 8,
        tpr: Annotated[float, Field(gt=0, le=1)] = 0.95,
    ) -> None:
        self.eps = list(eps)
        self.n, self.batch_size, self.grid, self.tpr = n, batch_size, grid, tpr

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """torchattacks needs images; a budget sweep needs attacks that declare their budget."""
        from toolkit.recipe import dataset_modality

        problems = []
        modality = dataset_modality(recipe.dataset)
        if "torchattacks" in recipe.recipe.baselines and modality not in (None, "image"):
            message = f"torchattacks works on images in [0, 1]; '{recipe.dataset.name}' is {modality}"
            problems.append(Problem("baselines.torchattacks", message))
        if recipe.task.params.get("eps"):
            for i, spec in enumerate(recipe.family("attacks", "evasion")):
                problem = _budget_problem(spec)
                if problem:
                    problems.append(Problem(f"attacks.{i}.name", problem))
        return problems

    def run(self, ctx: TaskContext) -> TaskResult:
        """Attack the model (and its twin without the defenses), explain, detect, cross-check."""
        from toolkit.data.inputs import to_model_input

        data = ctx.data()
        if not isinstance(data.test.x, torch.Tensor):
            raise UsageError(
                f"the evasion task needs tensor inputs; '{data.info.name}' has named input parts"
            )
        n = min(self.n, len(data.test))
        x = to_model_input(data.test.x[:n]).to(ctx.device)  # type: ignore[union-attr]
        y = data.test.y[:n].to(ctx.device)
        self._log_mode(ctx, n)
        models = kit.compared(ctx, "defenses", labels=("without defense", "with defense"))
        results = {}
        for label, model in models.items():
            with ctx.log.stage("attack"):
                results[label] = self.evaluate(ctx, model, x, y, label=label)
        ours = results[list(models)[-1]]
        metrics: dict[str, Any] = {**ours["metrics"], "n": n}
        if "without defense" in results:
            metrics["undefended"] = results["without defense"]["metrics"]
        figures = evasion_figures.figures(ctx, results, models, x, y, grid=self.grid)
        clean = ours["metrics"]["clean_accuracy"]
        title = f"Evasion on {data.info.name} ({n} test samples, clean accuracy {clean:.4f})"
        rows = [row for label, r in results.items() for row in self._rows(label, r["metrics"])]
        tables = [Table(title, ["model", "attack", "eps", "robust accuracy", "success rate"], rows)]
        headline = self._headline(ctx, metrics["attacks"])
        if headline is not None:
            metrics["headline"] = headline
        metrics["sanity"], sanity_table = self._sanity(ctx, ours["metrics"]["attacks"], x, y)
        metrics["sanity_flags"] = sanity.flags(metrics["sanity"])
        tables.append(sanity_table)
        if ctx.recipe.detectors:
            metrics["detectors"], detector_table = self._detect(ctx, ctx.model(), ours["examples"][0], n)
            tables.append(detector_table)
        if ctx.recipe.recipe.baselines:
            from toolkit.baselines.attacks import compare_attacks

            with ctx.log.stage("baselines"):
                metrics["baselines"], table = compare_attacks(
                    ctx.model(), x, y, info=data.info, requested=ctx.recipe.recipe.baselines,
                    eps=float(self.eps[-1]) if self.eps else 8 / 255, batch_size=self.batch_size,
                    predict=self.predict, log=ctx.log.info,
                )  # fmt: skip
            tables.append(table)
        samples = {"evasion": {"label": y.cpu().numpy(), **ours["predictions"]}}
        return TaskResult(metrics=metrics, tables=tables, figures=figures, samples=samples)

    @staticmethod
    def _headline(ctx: TaskContext, attacks: dict[str, Any]) -> dict[str, Any] | None:
        """AutoAttack's robust accuracy per budget, RobustBench's number, when the recipe has
        an ``autoattack`` entry (``None`` without one); said in the log."""
        auto = [
            ctx.recipe.label("attacks", i) for i, s in enumerate(ctx.recipe.attacks) if s.name == "autoattack"
        ]
        if not auto:
            return None
        record = attacks[auto[0]]
        ctx.log.info(f"headline (AutoAttack, standard): robust accuracy {_accuracies(record)}")
        return {"attack": auto[0], "eps": record["eps"], "robust_accuracy": record["robust_accuracy"]}

    def _sanity(
        self, ctx: TaskContext, attacks: dict[str, Any], x: torch.Tensor, y: torch.Tensor
    ) -> tuple[dict[str, Any], Table]:
        """Carlini et al.'s sanity checks of this evaluation (:mod:`toolkit.tasks.sanity`); a
        raised flag is a warning in the log."""
        kinds = {ctx.recipe.label("attacks", i): sanity.attack_kind(spec.name, spec.params, spec.factory)
                 for i, spec in enumerate(ctx.recipe.attacks)}  # fmt: skip
        with ctx.log.stage("sanity"):
            info = ctx.data().info
            checks = sanity.sanity_checks(
                ctx.model(), x, y, attacks=attacks, kinds=kinds, info=info, batch_size=self.batch_size
            )
        for name in sanity.flags(checks):
            ctx.log.info(
                f"warning: sanity check {name.replace('_', ' ')} raised (Carlini et al. 2019): "
                f"{checks[name]['detail']}; the robust accuracy may be overestimated",
                style="yellow",
            )
        title = "Sanity checks of the evaluation (Carlini et al. 2019)"
        return checks, Table(title, ["check", "verdict", "detail"], list(sanity.rows(checks)))

    def _log_mode(self, ctx: TaskContext, n: int) -> None:
        from toolkit.declarations import declared

        modes = {bool(declared(ctx.build(spec), "eval_mode")) for spec in ctx.recipe.attacks}
        how = (
            "eval mode (batch-norm statistics untouched)" if modes == {True} else "the mode each attack sets"
        )
        ctx.log.info(f"attacking {n} test samples; attacks run with the model in {how}")

    def _detect(
        self, ctx: TaskContext, model: nn.Module, x_adv: torch.Tensor, n: int
    ) -> tuple[dict[str, Any], Table]:
        """Detectors fitted on clean training data, scored on clean against adversarial test inputs."""
        clean = ctx.outputs_of(model, ctx.data().test.x[:n])  # type: ignore[index]
        attacked = ctx.outputs_of(model, x_adv.cpu())
        found = kit.score_detectors(
            ctx, model, fit_on=ctx.outputs("train"), inside=clean, outside=attacked, tpr=self.tpr
        )
        rows = [[label, m["auroc"], m["fpr_at_tpr"]] for label, m in found.metrics.items()]
        first = next(iter(ctx.recipe.attacks)).name
        table = Table(
            title=f"Detecting adversarial inputs ({first} at the largest budget) against clean ones",
            columns=[
                "detector",
                "AUROC clean vs adversarial",
                f"adversarial accepted @ {self.tpr:.0%} clean",
            ],
            rows=rows,
        )
        return found.metrics, table

    # ------------------------------------------------------------------ evaluation

    def _budgets(self, spec: Component) -> list[float | None]:
        return list(self.eps) if self.eps else [spec.factory.budget_in(spec.params)]

    def _attack(self, ctx: TaskContext, spec: Component, eps: float | None) -> Any:
        params = spec.params if eps is None else spec.factory.with_budget(spec.params, eps)
        return ctx.build(spec, params)

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes of model inputs ``x``, ``batch_size`` at a time, on the CPU."""
        return kit.predict(model, x, device=x.device, batch_size=self.batch_size)

    def evaluate(
        self, ctx: TaskContext, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, label: str
    ) -> dict[str, Any]:
        """Clean and robust accuracy, success rates and confusions of every attack and budget."""
        from toolkit.metrics.robustness import robust_accuracy

        clean = self.predict(model, x)
        y_np = y.cpu().numpy()
        out: dict[str, Any] = {"clean_accuracy": robust_accuracy(y_np, clean.numpy()), "attacks": {}}
        state: dict[str, Any] = {"examples": None, "predictions": {"clean_prediction": clean.numpy()}}
        specs = ctx.recipe.attacks
        with ctx.log.progress() as bar:
            task = (
                bar.add_task(f"attacks on the {label}", total=sum(len(self._budgets(s)) for s in specs))
                if bar
                else None
            )
            for i, spec in enumerate(specs):
                name = ctx.recipe.label("attacks", i)
                out["attacks"][name] = self._sweep(ctx, spec, i, name, model, x, y, clean, state, bar, task)
                record = out["attacks"][name]
                ctx.log.info(f"{label}: {name} robust accuracy {_accuracies(record, digits=3)}")
        return {"metrics": out, "examples": state["examples"], "predictions": state["predictions"]}

    def _sweep(
        self, ctx: TaskContext, spec: Component, index: int, name: str, model: nn.Module,
        x: torch.Tensor, y: torch.Tensor, clean: torch.Tensor, state: dict[str, Any], bar: Any, task: Any,
    ) -> dict[str, list[Any]]:  # fmt: skip
        """One attack over every budget."""
        from toolkit.baselines.attacks import attack_in_batches
        from toolkit.metrics.robustness import confusion, robust_accuracy, success_rate

        k = len(ctx.data().info.class_names)
        y_np = y.cpu().numpy()
        record: dict[str, list[Any]] = {"eps": [], "robust_accuracy": [], "success_rate": [], "confusion": []}
        budgets = self._budgets(spec)
        for j, eps in enumerate(budgets):
            x_adv, targets = attack_in_batches(self._attack(ctx, spec, eps), model, x, y, self.batch_size)
            adv = self.predict(model, x_adv)
            record["eps"].append(float(eps) if eps is not None else float("nan"))
            record["robust_accuracy"].append(robust_accuracy(y_np, adv.numpy()))
            if targets is None:
                record["success_rate"].append(success_rate(y_np, clean.numpy(), adv.numpy()))
            else:  # a targeted attack succeeds when the prediction is its target
                record["success_rate"].append(float((adv == targets).float().mean()))
            record["confusion"].append(confusion(y_np, adv.numpy(), k).tolist())
            state["predictions"][f"prediction_{name}_{j}"] = adv.numpy()
            real = [b for b in budgets if b is not None]
            if state["examples"] is None or (index == 0 and eps == max(real, default=eps)):
                state["examples"] = (x_adv, clean, adv)
            if bar is not None and task is not None:
                bar.advance(task)
        return record

    @staticmethod
    def _rows(label: str, metrics: dict[str, Any]) -> list[list[Any]]:
        rows = [[label, "none", 0.0, metrics["clean_accuracy"], ""]]
        for name, m in metrics["attacks"].items():
            for e, acc, rate in zip(m["eps"], m["robust_accuracy"], m["success_rate"], strict=True):
                rows.append([label, name, e, acc, rate])
        return rows


def _accuracies(record: dict[str, Any], *, digits: int = 4) -> str:
    """An attack's robust accuracies as the log says them: ``0.900 @ 0.03137, ...``."""
    return ", ".join(
        f"{a:.{digits}f} @ {e:.4g}" for e, a in zip(record["eps"], record["robust_accuracy"], strict=True)
    )


def _budget_problem(spec: Component) -> str | None:
    """Why evaluate.eps cannot sweep the attack ``spec``, if it cannot."""
    from toolkit.declarations import declared

    budget = declared(spec.factory, "budget")
    if budget is None:
        return (
            f"attack '{spec.name}' declares no budget, so evaluate.eps cannot sweep it; "
            "remove evaluate.eps or use an attack with a budget (its class attribute 'budget')"
        )
    sig, first = spec.entry.signature(), budget.split(".")[0]
    if first not in {p.name for p in sig.params} and not sig.open:
        return f"attack '{spec.name}' declares the budget '{budget}', but has no parameter '{first}'"
    return None
