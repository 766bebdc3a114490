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

from toolkit.context import RunContext, Table, TaskResult
from toolkit.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.recipe import Component


class EvasionTask:
    """Robustness to evasion attacks (``task = "evasion"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``clean_accuracy``, ``n`` and, per attack under ``attacks``,
    ``eps``, ``robust_accuracy``, ``success_rate`` and ``confusion`` (one entry per budget);
    ``undefended`` holds the same for the model trained without the defense; ``baselines``
    the reference libraries' robust accuracies and their differences from ours.

    Args:
        eps: budgets to sweep (default: each attack's own ``eps``); ``"8/255"`` is accepted.
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

    def run(self, ctx: RunContext) -> TaskResult:
        """Attack the model (and the undefended one), explain, compare with the baselines."""
        from toolkit import plots
        from toolkit.data.base import to_input

        data = ctx.data()
        model = ctx.model()
        n = min(self.n, len(data.test))
        x = to_input(data.test.x[:n]).to(ctx.device)
        y = data.test.y[:n].to(ctx.device)
        names = data.info.class_names

        modes = {bool(spec.params.get("eval_mode", True)) for spec in ctx.recipe.attacks}
        ctx.log.info(
            f"attacking {n} test samples; attacks run with the model in "
            + (
                "eval mode (batch-norm statistics untouched)"
                if modes == {True}
                else "the mode each attack sets"
            )
        )
        with ctx.stage("attack"):
            ours = self.evaluate(ctx, model, x, y, label="model")
        metrics: dict[str, Any] = {**ours["metrics"], "n": n}
        figures: dict[str, Figure] = {}
        if ctx.history:
            figures["training_curves"] = plots.training_curves(ctx.history)
        rows = self._rows("model", ours["metrics"])
        defended = bool(ctx.recipe.defenses_by_hook("batch"))
        curves = {
            f"{a} (model)": (m["eps"], m["robust_accuracy"]) for a, m in ours["metrics"]["attacks"].items()
        }
        if defended:
            plain = ctx.undefended_model()
            with ctx.stage("attack"):
                undefended = self.evaluate(ctx, plain, x, y, label="undefended")
            metrics["undefended"] = undefended["metrics"]
            rows = self._rows("without defense", undefended["metrics"]) + self._rows(
                "with defense", ours["metrics"]
            )
            curves = {
                **{
                    f"{a} (without defense)": (m["eps"], m["robust_accuracy"])
                    for a, m in undefended["metrics"]["attacks"].items()
                },
                **{
                    f"{a} (with defense)": (m["eps"], m["robust_accuracy"])
                    for a, m in ours["metrics"]["attacks"].items()
                },
            }
        figures["robust_accuracy"] = plots.robust_accuracy(curves)
        first = next(iter(ours["metrics"]["attacks"]))
        worst = ours["metrics"]["attacks"][first]
        top = int(np.nanargmax(worst["eps"])) if not np.isnan(worst["eps"]).all() else -1
        figures["confusion_after_attack"] = plots.confusion(
            np.asarray(worst["confusion"][top]), names, title=f"{first} at eps {worst['eps'][top]:.4g}"
        )
        if self.grid and x.dim() == 4:  # pictures of images; tabular inputs get the tables and curves
            x_adv, pred_clean, pred_adv = ours["examples"]
            figures["examples"] = plots.image_grid(
                x[: self.grid].cpu(), x_adv[: self.grid].cpu(), y[: self.grid].cpu(),
                pred_clean[: self.grid], pred_adv[: self.grid], names,
            )  # fmt: skip
            with ctx.stage("explain"):
                explained = [("", model, ours)]
                if defended:
                    explained = [("_without_defense", plain, undefended), ("_with_defense", model, ours)]
                for suffix, net, result in explained:
                    figures.update(self._explain(ctx, net, x, result["examples"], names, suffix))
        detected = self._detect(ctx, model, ours["examples"], n) if ctx.recipe.detectors else None
        if detected is not None:
            metrics["detectors"], detector_table = detected
        tables = [
            Table(
                title=f"Evasion on {data.info.name} ({n} test samples, "
                f"clean accuracy {ours['metrics']['clean_accuracy']:.4f})",
                columns=["model", "attack", "eps", "robust accuracy", "success rate"],
                rows=rows,
            )
        ]
        if detected is not None:
            tables.append(detector_table)
        requested = ctx.recipe.recipe.baselines
        if requested:
            with ctx.stage("baselines"):
                base_metrics, base_table = self._baselines(ctx, model, x, y, requested)
            metrics["baselines"] = base_metrics
            tables.append(base_table)
        return TaskResult(metrics=metrics, tables=tables, figures=figures)

    def _explain(
        self, ctx: RunContext, model: nn.Module, x: torch.Tensor, examples: Any, names: list[str], suffix: str
    ) -> dict[str, Figure]:
        """Each explainer's maps of clean and adversarial images, for their predicted classes."""
        from toolkit import plots

        x_adv, pred_clean, pred_adv = examples
        k = min(self.grid, len(x))
        out = {}
        for i, spec in enumerate(ctx.recipe.explainers):
            explainer = spec.create()
            clean_maps = explainer.explain(model, x[:k], pred_clean[:k].to(ctx.device))
            adv_maps = explainer.explain(model, x_adv[:k], pred_adv[:k].to(ctx.device))
            label = ctx.recipe.label("explainers", i)
            out[f"explain_{label}{suffix}"] = plots.attribution_grid(
                x[:k].cpu(), clean_maps.cpu(), x_adv[:k].cpu(), adv_maps.cpu(),
                pred_clean[:k], pred_adv[:k], names, title=f"{label}{suffix.replace('_', ' ')}",
            )  # fmt: skip
        return out

    def _detect(
        self, ctx: RunContext, model: nn.Module, examples: Any, n: int
    ) -> tuple[dict[str, Any], Table]:
        """Detectors fitted on clean training data, scored on clean against adversarial test inputs."""
        from toolkit.metrics.ood import ood_metrics
        from toolkit.outputs import Outputs

        x_adv = examples[0]
        data = ctx.data()
        clean = Outputs(model, data.test.x[:n], device=ctx.device, batch_size=ctx.eval_batch_size)
        attacked = Outputs(model, x_adv.cpu(), device=ctx.device, batch_size=ctx.eval_batch_size)
        out: dict[str, Any] = {}
        rows = []
        with ctx.stage("detect"):
            for i, spec in enumerate(ctx.recipe.detectors):
                label = ctx.recipe.label("detectors", i)
                detector = spec.create().fit(model, ctx.outputs("train"))
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
        return [spec.params.get("eps")]

    def _attack(self, spec: Component, eps: float | None) -> Any:
        params = dict(spec.params)
        if eps is not None:
            if "eps" in params:
                params["eps"] = eps
            elif isinstance(params.get("params"), dict):  # an adapter: the budget is one of its params
                params["params"] = {**params["params"], "eps": eps}
            else:
                raise UsageError(f"evaluate.eps: attack '{spec.name}' has no eps parameter to sweep")
        return spec.entry.load()(**params)

    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes, in batches, on the CPU."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():  # not inference_mode: predictions become explainers' targets
                return torch.cat(
                    [
                        model(x[i : i + self.batch_size]).argmax(1).cpu()
                        for i in range(0, len(x), self.batch_size)
                    ]
                )
        finally:
            model.train(was_training)

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
        self, ctx: RunContext, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, label: str
    ) -> dict[str, Any]:
        """Clean and robust accuracy, success rates and confusions of every attack and budget."""
        from toolkit.metrics.robustness import confusion, robust_accuracy, success_rate

        k = len(ctx.data().info.class_names)
        y_cpu = y.cpu()
        clean = self.predict(model, x)
        out: dict[str, Any] = {"clean_accuracy": robust_accuracy(y_cpu.numpy(), clean.numpy()), "attacks": {}}
        examples = None
        specs = ctx.recipe.attacks
        total = sum(len(self._budgets(s)) for s in specs)
        with ctx.progress() as bar:
            task = bar.add_task(f"attacks on the {label}", total=total) if bar is not None else None
            for i, spec in enumerate(specs):
                name = ctx.recipe.label("attacks", i)
                record: dict[str, list[Any]] = {
                    "eps": [],
                    "robust_accuracy": [],
                    "success_rate": [],
                    "confusion": [],
                }
                for eps in self._budgets(spec):
                    x_adv, targets = self.attack_all(self._attack(spec, eps), model, x, y)
                    adv = self.predict(model, x_adv)
                    record["eps"].append(float(eps) if eps is not None else float("nan"))
                    record["robust_accuracy"].append(robust_accuracy(y_cpu.numpy(), adv.numpy()))
                    if targets is None:
                        record["success_rate"].append(success_rate(y_cpu.numpy(), clean.numpy(), adv.numpy()))
                    else:  # a targeted attack succeeds when the prediction is its target
                        record["success_rate"].append(float((adv == targets).float().mean()))
                    record["confusion"].append(confusion(y_cpu.numpy(), adv.numpy(), k).tolist())
                    budgets = [b for b in self._budgets(spec) if b is not None]
                    if examples is None or (i == 0 and eps == max(budgets, default=eps)):
                        examples = (x_adv, clean, adv)
                    if bar is not None and task is not None:
                        bar.advance(task)
                out["attacks"][name] = record
                ctx.log.info(
                    f"{label}: {name} robust accuracy "
                    + ", ".join(
                        f"{a:.3f} @ {e:.4g}"
                        for e, a in zip(record["eps"], record["robust_accuracy"], strict=True)
                    )
                )
        return {"metrics": out, "examples": examples}

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
        ctx: RunContext,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        requested: dict[str, list[str]],
    ) -> tuple[dict[str, Any], Table]:
        """Reference FGSM/PGD on the same model and images, against ours with the same settings."""
        from toolkit.attacks.art_adapter import ART
        from toolkit.attacks.fgsm import FGSM
        from toolkit.attacks.pgd import PGD
        from toolkit.attacks.torchattacks_adapter import TorchAttacks
        from toolkit.metrics.robustness import robust_accuracy

        eps = float(self.eps[-1]) if self.eps else 8 / 255
        steps, alpha = 10, eps / 4
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
                acc = robust_accuracy(y_np, self.predict(model, x_ref).numpy())
                diff = acc - mine[attack][0]
                tolerance = 0.0 if attack == "fgsm" else 0.01
                agrees = abs(diff) <= tolerance + 1e-12
                max_pixel = float((x_ref - mine[attack][1]).abs().max())
                out[library][attack] = {
                    "robust_accuracy": acc,
                    "difference": diff,
                    "agrees": agrees,
                    "max_pixel_difference": max_pixel,
                }
                rows.append(
                    [f"{library} {attack}", mine[attack][0], acc, diff, max_pixel, "yes" if agrees else "NO"]
                )
                if not agrees:
                    ctx.log.info(
                        f"[red]{library} {attack} disagrees with ours: "
                        f"{acc:.4f} vs {mine[attack][0]:.4f}[/red]"
                    )
        table = Table(
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
        return out, table
