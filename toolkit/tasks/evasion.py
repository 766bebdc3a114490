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
PGD, no random start, on the same model and images: FGSM must agree exactly, PGD within
one percentage point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from toolkit.errors import Problem, UsageError
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.execution.context import TaskContext
    from toolkit.recipe import Component, ResolvedRecipe


class EvasionTask:
    """Robustness to evasion attacks (``task = "evasion"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``clean_accuracy``, ``n`` and, per attack under ``attacks``,
    ``eps``, ``robust_accuracy``, ``success_rate`` and ``confusion`` (one entry per budget);
    ``undefended`` holds the same for the model trained without the defense; ``baselines``
    the reference libraries' robust accuracies and their differences from ours. Per sample
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
    """

    uses = ("model", "train", "attacks", "defenses", "explainers", "detectors", "baselines")
    requires = ("attacks",)
    baselines: ClassVar = {"art": ("fgsm", "pgd"), "torchattacks": ("fgsm", "pgd")}

    def __init__(
        self,
        *,
        eps: list[Annotated[float, Field(ge=0)]] = [],  # noqa: B006 - read-only default
        n: Annotated[int, Field(ge=1)] = 1000,
        batch_size: Annotated[int, Field(ge=1)] = 256,
        grid: Annotated[int, Field(ge=0)] = 8,
    ) -> None:
        self.eps = list(eps)
        self.n = n
        self.batch_size = batch_size
        self.grid = grid

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """Only evasion attacks; a budget sweep needs attacks that declare their budget."""
        from toolkit.recipe import dataset_modality

        problems = []
        modality = dataset_modality(recipe.dataset)
        if "torchattacks" in recipe.recipe.baselines and modality not in (None, "image"):
            problems.append(
                Problem(
                    "baselines.torchattacks",
                    f"torchattacks works on images in [0, 1]; '{recipe.dataset.name}' is {modality}",
                )
            )
        sweep = bool(recipe.task.params.get("eps"))
        for i, spec in enumerate(recipe.attacks):
            problem = cls._check_attack(spec, sweep)
            if problem:
                problems.append(Problem(f"attacks.{i}.name", problem))
        return problems

    @staticmethod
    def _check_attack(spec: Component, sweep: bool) -> str | None:
        """What is wrong with an attack for this task, if anything."""
        if spec.family != "evasion":
            return f"the evasion task runs evasion attacks; '{spec.name}' is {spec.family}"
        budget = getattr(spec.factory, "budget", None)
        if not sweep:
            return None
        if budget is None:
            return (
                f"attack '{spec.name}' declares no budget, so evaluate.eps cannot sweep it; "
                "remove evaluate.eps or use an attack with a budget (its class attribute 'budget')"
            )
        sig, first = spec.entry.signature(), budget.split(".")[0]
        if first not in {p.name for p in sig.params} and not sig.open:
            return f"attack '{spec.name}' declares the budget '{budget}', but has no parameter '{first}'"
        return None

    def run(self, ctx: TaskContext) -> TaskResult:
        """Attack the model (and the undefended one), explain, compare with the baselines."""
        from toolkit.data.inputs import to_model_input

        data = ctx.data()
        if not isinstance(data.test.x, torch.Tensor):
            raise UsageError(
                f"the evasion task needs tensor inputs; '{data.info.name}' has named input parts"
            )
        model = ctx.model()
        n = min(self.n, len(data.test))
        x = to_model_input(data.test.x[:n]).to(ctx.device)  # type: ignore[union-attr]
        y = data.test.y[:n].to(ctx.device)
        self._log_mode(ctx, n)
        with ctx.log.stage("attack"):
            ours = self.evaluate(ctx, model, x, y, label="model")
        results = {"model": ours}
        if ctx.recipe.family("defenses", "batch"):
            plain = ctx.undefended().model
            with ctx.log.stage("attack"):
                results = {
                    "without defense": self.evaluate(ctx, plain, x, y, label="undefended"),
                    "with defense": ours,
                }
        metrics: dict[str, Any] = {**ours["metrics"], "n": n}
        if "without defense" in results:
            metrics["undefended"] = results["without defense"]["metrics"]
        figures = self._figures(ctx, results, x, y)
        clean = ours["metrics"]["clean_accuracy"]
        title = f"Evasion on {data.info.name} ({n} test samples, clean accuracy {clean:.4f})"
        rows = [row for label, r in results.items() for row in self._rows(label, r["metrics"])]
        tables = [Table(title, ["model", "attack", "eps", "robust accuracy", "success rate"], rows)]
        if ctx.recipe.detectors:
            metrics["detectors"], detector_table = self._detect(ctx, model, ours["examples"], n)
            tables.append(detector_table)
        requested = ctx.recipe.recipe.baselines
        if requested:
            with ctx.log.stage("baselines"):
                metrics["baselines"], base_table = self._baselines(ctx, model, x, y, requested)
            tables.append(base_table)
        samples = {"evasion": {"label": y.cpu().numpy(), **ours["predictions"]}}
        return TaskResult(metrics=metrics, tables=tables, figures=figures, samples=samples)

    def _log_mode(self, ctx: TaskContext, n: int) -> None:
        modes = {bool(getattr(ctx.build(spec), "eval_mode", True)) for spec in ctx.recipe.attacks}
        how = (
            "eval mode (batch-norm statistics untouched)" if modes == {True} else "the mode each attack sets"
        )
        ctx.log.info(f"attacking {n} test samples; attacks run with the model in {how}")

    def _figures(
        self, ctx: TaskContext, results: dict[str, Any], x: torch.Tensor, y: torch.Tensor
    ) -> dict[str, Figure]:
        """Training curves, robust accuracy against the budget, the confusion matrix after the
        first attack at its largest budget, and pictures of the examples and explanations."""
        from toolkit import plots

        figures: dict[str, Figure] = {}
        history = ctx.trained().history
        if history:
            figures["training_curves"] = plots.training_curves(history)
        single = len(results) == 1
        curves = {
            f"{a} ({label if not single else 'model'})": (m["eps"], m["robust_accuracy"])
            for label, r in results.items()
            for a, m in r["metrics"]["attacks"].items()
        }
        figures["robust_accuracy"] = plots.robust_accuracy(curves)
        ours = results["model" if single else "with defense"]
        first = next(iter(ours["metrics"]["attacks"]))
        worst = ours["metrics"]["attacks"][first]
        top = int(np.nanargmax(worst["eps"])) if not np.isnan(worst["eps"]).all() else -1
        names = ctx.data().info.class_names
        figures["confusion_after_attack"] = plots.confusion(
            np.asarray(worst["confusion"][top]), names, title=f"{first} at eps {worst['eps'][top]:.4g}"
        )
        if self.grid and x.dim() == 4:
            x_adv, pred_clean, pred_adv = ours["examples"]
            k = self.grid
            figures["examples"] = plots.image_grid(
                x[:k].cpu(), x_adv[:k].cpu(), y[:k].cpu(), pred_clean[:k], pred_adv[:k], names
            )
        if ctx.recipe.explainers and not self.grid and x.dim() == 4:
            ctx.log.info("[yellow]explainers not run: evaluate.grid = 0 asks for no images[/yellow]")
        if ctx.recipe.explainers and (self.grid or x.dim() != 4):
            models = (
                {"model": ctx.model()}
                if single
                else {"without defense": ctx.undefended().model, "with defense": ctx.model()}
            )
            with ctx.log.stage("explain"):
                for label, net in models.items():
                    suffix = "" if single else "_" + label.replace(" ", "_")
                    figures.update(self._explain(ctx, net, x, results[label]["examples"], suffix))
        return figures

    def _explain(
        self, ctx: TaskContext, model: nn.Module, x: torch.Tensor, examples: Any, suffix: str
    ) -> dict[str, Figure]:
        """Each explainer's attributions of clean and adversarial inputs for their predicted
        classes: maps of the first ``grid`` images, or mean per-feature bars on tabular data."""
        from toolkit import plots

        x_adv, pred_clean, pred_adv = examples
        info = ctx.data().info
        image = x.dim() == 4
        k = min(self.grid if image else 256, len(x))
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

    def _detect(
        self, ctx: TaskContext, model: nn.Module, examples: Any, n: int
    ) -> tuple[dict[str, Any], Table]:
        """Detectors fitted on clean training data, scored on clean against adversarial test inputs."""
        from toolkit.metrics.ood import ood_metrics
        from toolkit.outputs import Outputs

        x_adv = examples[0]
        data = ctx.data()
        clean = Outputs(model, data.test.x[:n], device=ctx.device, batch_size=ctx.eval_batch_size)  # type: ignore[index]
        attacked = Outputs(model, x_adv.cpu(), device=ctx.device, batch_size=ctx.eval_batch_size)
        out: dict[str, Any] = {}
        rows = []
        with ctx.log.stage("detect"):
            for i, spec in enumerate(ctx.recipe.detectors):
                label = ctx.recipe.label("detectors", i)
                detector = ctx.build(spec).fit(model, ctx.outputs("train"))
                s_clean = detector.score(model, clean).double().numpy()
                s_adv = detector.score(model, attacked).double().numpy()
                out[label] = ood_metrics(s_clean, s_adv, 0.95)
                rows.append([label, out[label]["auroc"], out[label]["fpr_at_tpr"]])
        first = next(iter(ctx.recipe.attacks)).name
        table = Table(
            title=f"Detecting adversarial inputs ({first} at the largest budget) against clean ones",
            columns=["detector", "AUROC clean vs adversarial", "adversarial accepted @ 95% clean"],
            rows=rows,
        )
        return out, table

    # ------------------------------------------------------------------ evaluation

    def _budgets(self, spec: Component) -> list[float | None]:
        if self.eps:
            return list(self.eps)
        return [spec.factory.budget_in(spec.params)]

    def _attack(self, ctx: TaskContext, spec: Component, eps: float | None) -> Any:
        params = spec.params if eps is None else spec.factory.with_budget(spec.params, eps)
        return ctx.build(spec, params)

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes, in batches, on the CPU."""
        from toolkit.modelstate import eval_mode

        with eval_mode(model), torch.no_grad():  # not inference_mode: predictions become explainers' targets
            return torch.cat(
                [model(x[i : i + self.batch_size]).argmax(1).cpu() for i in range(0, len(x), self.batch_size)]
            )

    def attack_all(
        self, attack: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Adversarial examples for every sample, in batches, and the targets of a targeted attack."""
        adv, targets = [], []
        for i in range(0, len(x), self.batch_size):
            adv.append(attack(model, x[i : i + self.batch_size], y[i : i + self.batch_size]))
            chosen = getattr(attack, "targets_", None)
            if chosen is not None:
                targets.append(chosen.cpu())
        return torch.cat(adv), (torch.cat(targets) if targets else None)

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
                ctx.log.info(
                    f"{label}: {name} robust accuracy "
                    + ", ".join(
                        f"{a:.3f} @ {e:.4g}"
                        for e, a in zip(record["eps"], record["robust_accuracy"], strict=True)
                    )
                )
        return {"metrics": out, "examples": state["examples"], "predictions": state["predictions"]}

    def _sweep(
        self, ctx: TaskContext, spec: Component, index: int, name: str, model: nn.Module,
        x: torch.Tensor, y: torch.Tensor, clean: torch.Tensor, state: dict[str, Any], bar: Any, task: Any,
    ) -> dict[str, list[Any]]:  # fmt: skip
        """One attack over every budget."""
        from toolkit.metrics.robustness import confusion, robust_accuracy, success_rate

        k = len(ctx.data().info.class_names)
        y_np = y.cpu().numpy()
        record: dict[str, list[Any]] = {"eps": [], "robust_accuracy": [], "success_rate": [], "confusion": []}
        budgets = self._budgets(spec)
        for j, eps in enumerate(budgets):
            x_adv, targets = self.attack_all(self._attack(ctx, spec, eps), model, x, y)
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

    # ------------------------------------------------------------------ baselines

    def _baselines(
        self,
        ctx: TaskContext,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        requested: dict[str, list[str]],
    ) -> tuple[dict[str, Any], Table]:
        """Reference FGSM/PGD on the same model and images, against ours with the same settings."""
        from toolkit.metrics.robustness import robust_accuracy
        from toolkit.protocols import bind

        eps = float(self.eps[-1]) if self.eps else 8 / 255
        steps, alpha = 10, eps / 4
        info = ctx.data().info  # every reference attack moves inputs within the data's domain
        ours, makers = self._reference_attacks(eps, steps, alpha)
        ours = {name: bind(attack, info) for name, attack in ours.items()}
        theirs = {key: (lambda make=make: bind(make(), info)) for key, make in makers.items()}
        y_np = y.cpu().numpy()
        mine: dict[str, tuple[float, torch.Tensor]] = {}
        for attack in {a for names in requested.values() for a in names}:
            x_adv, _ = self.attack_all(ours[attack], model, x, y)
            mine[attack] = (robust_accuracy(y_np, self.predict(model, x_adv).numpy()), x_adv)
        out: dict[str, Any] = {
            "eps": eps,
            "pgd_steps": steps,
            "pgd_alpha": alpha,
            "toolkit": {a: v[0] for a, v in mine.items()},
        }
        rows = []
        for library, names in requested.items():
            out[library] = {}
            for attack in names:
                x_ref, _ = self.attack_all(theirs[(library, attack)](), model, x, y)
                out[library][attack], row = self._compare_reference(
                    ctx, model, x_ref, y_np, (library, attack), mine[attack]
                )
                rows.append(row)
        return out, self._reference_table(eps, steps, alpha, rows)

    def _reference_attacks(
        self, eps: float, steps: int, alpha: float
    ) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
        """Our FGSM and PGD (no random start), and the libraries' with the same settings.

        Args:
            eps: the budget.
            steps: PGD's steps.
            alpha: PGD's step size.

        Returns:
            Ours by attack name, and per ``(library, attack)`` a function that creates theirs.
        """
        from toolkit.attacks.art_adapter import ART
        from toolkit.attacks.fgsm import FGSM
        from toolkit.attacks.pgd import PGD
        from toolkit.attacks.torchattacks_adapter import TorchAttacks

        ours = {
            "fgsm": FGSM(eps=eps),
            "pgd": PGD(eps=eps, alpha=alpha, steps=steps, random_start=False),
        }
        theirs = {
            ("torchattacks", "fgsm"): lambda: TorchAttacks(attack="FGSM", params={"eps": eps}),
            ("torchattacks", "pgd"): lambda: TorchAttacks(
                attack="PGD", params={"eps": eps, "alpha": alpha, "steps": steps, "random_start": False}
            ),
            ("art", "fgsm"): lambda: ART(attack="FastGradientMethod", params={"eps": eps}),
            ("art", "pgd"): lambda: ART(
                attack="ProjectedGradientDescent",
                params={
                    "eps": eps,
                    "eps_step": alpha,
                    "max_iter": steps,
                    "num_random_init": 0,
                    "batch_size": self.batch_size,
                },
            ),
        }
        return ours, theirs

    def _compare_reference(
        self,
        ctx: TaskContext,
        model: nn.Module,
        x_ref: torch.Tensor,
        y_np: np.ndarray,
        reference: tuple[str, str],
        mine: tuple[float, torch.Tensor],
    ) -> tuple[dict[str, Any], list[Any]]:
        """A library's adversarial examples against ours: FGSM must agree exactly, PGD within 0.01.

        Args:
            ctx: the run (a disagreement is logged).
            model: the attacked model.
            x_ref: the library's adversarial examples.
            y_np: the labels.
            reference: the library and the attack.
            mine: our robust accuracy and adversarial examples for the same attack.

        Returns:
            The comparison's metrics and its table row.
        """
        from toolkit.metrics.robustness import robust_accuracy

        library, attack = reference
        acc = robust_accuracy(y_np, self.predict(model, x_ref).numpy())
        diff = acc - mine[0]
        tolerance = 0.0 if attack == "fgsm" else 0.01
        agrees = abs(diff) <= tolerance + 1e-12
        max_pixel = float((x_ref - mine[1]).abs().max())
        record = {
            "robust_accuracy": acc,
            "difference": diff,
            "agrees": agrees,
            "max_pixel_difference": max_pixel,
        }
        row = [f"{library} {attack}", mine[0], acc, diff, max_pixel, "yes" if agrees else "NO"]
        if not agrees:
            ctx.log.info(f"[red]{library} {attack} disagrees with ours: {acc:.4f} vs {mine[0]:.4f}[/red]")
        return record, row

    @staticmethod
    def _reference_table(eps: float, steps: int, alpha: float, rows: list[list[Any]]) -> Table:
        """The table of the reference libraries against ours."""
        return Table(
            title=f"Reference libraries, same model and images "
            f"(eps {eps:.4g}; PGD {steps} steps of {alpha:.4g}, no random start)",
            columns=[
                "attack",
                "toolkit robust acc.",
                "reference robust acc.",
                "difference",
                "max pixel difference",
                "agrees",
            ],
            rows=rows,
        )
