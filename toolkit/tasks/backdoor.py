"""Backdoor: does a poisoned training set plant a trigger, and what does it cost in accuracy?

The recipe's poisoning attack (``patch_trigger``, ``blended``, or a plugin's) rewrites part
of the training set before training (the ``poison`` stage); the model is trained on it as
usual. On the clean test split, then on the same images with the trigger:

- ``clean_accuracy``: accuracy on clean test images;
- ``attack_success_rate`` (ASR): the share of triggered test images of the attack's source
  classes classified as the attack wants (the target, or the next class for all-to-all);
  ``attack_success_rate_on_correct`` counts only those the model classifies correctly when
  clean, so a weak model's errors do not pass for the trigger's work;
- ``triggered_accuracy``: accuracy on triggered test images of every class, with their
  true labels;
- BackdoorBench's names (Wu et al. 2022): ``c_acc`` (the clean accuracy), ``asr`` (the
  ASR) and ``r_acc``, the robust accuracy: the share of triggered source-class test images
  still classified as their true class; with poison filters, the defense effectiveness
  rate ``der`` and robust improvement rate ``rir`` of the model retrained without what they
  flagged (``after_removal``, :func:`defense_rates`);
- with ``reference = true`` (default), the same recipe trained without the attack (a model
  the cache shares with that recipe): its clean accuracy, its ASR (what the trigger alone
  does to a clean model), and the accuracy the poisoning costs.

Gu et al. 2017 (BadNets) and Chen et al. 2017 (blended) report these same three numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
import torch
from pydantic import Field

from toolkit.capabilities import TRIGGER_POISONING
from toolkit.errors import Problem
from toolkit.results import Table, TaskResult
from toolkit.tasks import kit

if TYPE_CHECKING:
    from torch import nn

    from toolkit.data.base import DataBundle
    from toolkit.execution.context import TaskContext
    from toolkit.recipe import ResolvedRecipe


class BackdoorTask:
    """Trigger poisoning (``task = "backdoor"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``clean_accuracy``, ``attack_success_rate``,
    ``triggered_accuracy``, ``robust_accuracy`` (and BackdoorBench's ``c_acc``, ``asr``,
    ``r_acc``; with filters, ``after_removal.der`` and ``.rir``), ``n_poisoned``,
    ``poison_rate`` (share of the training set), ``n_test``, ``n_source_test``,
    ``confusion_triggered`` (true x predicted on triggered test images) and, with
    ``reference``, ``clean_model`` (the same numbers for the model trained without the
    attack) and ``accuracy_cost``. Figures: training curves, twenty
    images of the poisoned training set (ten from the target class's folder, poisoned ones
    marked, ten from a source class's), triggered test images with their predictions, the
    confusion on triggered images. Per sample (``samples/backdoor.npz``): ``label``,
    ``clean_prediction``, ``triggered_prediction``, ``source`` (1 for the attack's source
    classes). With ``export``, the poisoned training set as an image folder,
    ``poisoned_set/<class>/<index>.png`` (poisoned images named ``<index>_poisoned.png``),
    as the reference protocol's ``cats/`` and ``dogs/`` folders.

    With poison filters in ``[[defenses]]`` (``activation_clustering``,
    ``spectral_signature``), ``filters`` holds each one's ``flagged``, ``true_positives``,
    ``precision`` and ``recall`` against the poisoned training samples, and
    ``after_removal`` the numbers of a fresh model trained on the samples no filter flagged.
    With run-time detectors in ``[[detectors]]`` (``strip``), ``detectors`` holds each one's
    AUROC, AUPR and rates at ``tpr`` of clean inputs accepted, clean test images against the
    triggered ones of the source classes (the ``ood`` task's metrics). With model scanners
    there (``neural_cleanse``), ``scans`` holds what each found in the poisoned model, and
    with ``reference`` ``clean_model.scans`` what it found in the clean one
    (:mod:`toolkit.tasks.backdoor_scan`): a figure each draws the reversed triggers.

    Args:
        reference: also train the recipe without the attack and report it (default true).
        rates: more poison rates (the attack's ``rate``) to train with: ``by_rate`` and a
            figure give the ASR and clean accuracy against the rate (default none).
        export: write the poisoned training set as an image folder (default false).
        grid: triggered test images in the prediction figure (default 8).
        tpr: share of clean inputs a run-time detector accepts at its threshold (default 0.95).
    """

    uses = ("model", "train", "attacks", "defenses", "detectors", "baselines")
    requires = ("attacks",)
    needs: ClassVar = {"attacks": TRIGGER_POISONING}
    baselines: ClassVar = {"art": ("activation_defence", "spectral_signature", "poisoning_attack_backdoor")}

    def __init__(
        self,
        *,
        reference: bool = True,
        export: bool = False,
        grid: Annotated[int, Field(ge=0)] = 8,
        rates: list[Annotated[float, Field(gt=0, le=1)]] = [],  # noqa: B006 - read-only default
        tpr: Annotated[float, Field(gt=0, le=1)] = 0.95,
    ) -> None:
        self.reference, self.export, self.grid, self.rates = reference, export, grid, list(rates)
        self.tpr = tpr

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """One poisoning attack; ``rates`` needs its ``rate``; ART's attack needs its trigger."""
        from toolkit.baselines.art_backdoor import check_attack

        problems = []
        attacks = recipe.family("attacks", "poisoning")
        if len(attacks) > 1:
            problems.append(Problem("attacks", "the backdoor task evaluates one poisoning attack at a time"))
        varies = recipe.task.params.get("rates") and attacks
        if varies and "rate" not in {p.name for p in attacks[0].entry.signature().params}:
            problems.append(
                Problem("evaluate.rates", f"attack '{attacks[0].name}' has no 'rate' parameter to vary")
            )
        if "poisoning_attack_backdoor" in recipe.recipe.baselines.get("art", []) and attacks:
            problems += check_attack(attacks[0])
        return problems

    def run(self, ctx: TaskContext) -> TaskResult:
        """Train on the poisoned data (or reuse the model), then measure the trigger."""
        from toolkit.tasks import backdoor_figures as show

        data, poisoned = ctx.data(), ctx.training_data()
        attack = ctx.build(ctx.recipe.family("attacks", "poisoning")[0])
        triggered = attack.trigger(data.test.x)
        filters = ctx.recipe.family("defenses", "filter")
        main = ctx.trained().model if filters else ctx.model()
        result = self.measure(ctx, main, triggered, attack)
        index = poisoned.extras.get("poisoned", torch.empty(0, dtype=torch.long))
        metrics: dict[str, Any] = {**public(result), "n_poisoned": len(index),
                                   "poison_rate": len(index) / max(len(poisoned.train), 1),
                                   "n_test": len(data.test)}  # fmt: skip
        ctx.log.info(
            f"clean accuracy {metrics['clean_accuracy']:.4f}, attack success rate "
            f"{metrics['attack_success_rate']:.4f} ({len(index)} poisoned training images)"
        )
        if filters:
            defended = ctx.defended()
            metrics["filters"] = filter_scores(defended.history["flagged"], index, len(poisoned.train))
            metrics["after_removal"] = public(self.measure(ctx, defended.model, triggered, attack))
            metrics["after_removal"].update(defense_rates(metrics, metrics["after_removal"]))
            for label, score in metrics["filters"].items():
                ctx.log.info(f"filter {label}: flagged {score['flagged']}, recall {score['recall']:.3f}")
        if ctx.recipe.family("detectors", "detector"):
            hit = ctx.outputs_of(main, triggered[torch.from_numpy(result["_source"])])
            metrics["detectors"] = kit.score_detectors(
                ctx, main, fit_on=ctx.outputs_of(main, data.train.x, y=data.train.y),
                inside=ctx.outputs_of(main, data.test.x, y=data.test.y), outside=hit, tpr=self.tpr,
                what="clean vs triggered test images",
            ).metrics  # fmt: skip
        if ctx.recipe.recipe.baselines.get("art"):
            metrics["baselines"] = {"art": self._art(ctx, main, poisoned, index, filters)}
        if self.rates:
            metrics["by_rate"] = self.by_rate(ctx, triggered, attack, metrics)
        if self.reference:
            ref = self.measure(ctx, ctx.without("attacks", final=not filters).model, triggered, attack)
            metrics["clean_model"] = public(ref)
            metrics["accuracy_cost"] = ref["clean_accuracy"] - metrics["clean_accuracy"]
        figures = self._figures(ctx, poisoned, attack, triggered, result, metrics)
        scans = self._scans(ctx, main, attack, metrics, figures, reference=not filters)
        if self.export and ctx.folder is not None:
            show.export_image_folder(poisoned, ctx.folder / "poisoned_set")
        samples = {"backdoor": {
            "label": data.test.y.numpy(), "clean_prediction": result["_clean"],
            "triggered_prediction": result["_triggered"], "source": result["_source"].astype(np.int8),
        }}  # fmt: skip
        tables = [show.summary_table(metrics)]
        if filters:
            tables.append(show.filter_table(metrics["filters"], len(index)))
        if scans:
            tables.append(scans)
        if "baselines" in metrics:
            from toolkit.baselines.art_backdoor import table

            tables.append(table(metrics["baselines"]["art"], len(index)))
        return TaskResult(metrics=metrics, tables=tables, figures=figures, samples=samples)

    def _scans(
        self, ctx: TaskContext, main: nn.Module, attack: Any, metrics: dict[str, Any],
        figures: dict[str, Any], *, reference: bool,
    ) -> Table | None:  # fmt: skip
        """Model scanners (``neural_cleanse``) on the poisoned model and, with ``reference``, on
        the clean twin (:mod:`toolkit.tasks.backdoor_scan`); their table, or ``None``."""
        from toolkit.tasks.backdoor_scan import scan_models, scan_table, targets_of

        if not ctx.recipe.family("detectors", "scanner"):
            return None
        data = ctx.data()
        models = {"poisoned model": main}
        if self.reference:
            models["clean model"] = ctx.without("attacks", final=reference).model
        scans, drawn = scan_models(ctx, models, targets_of(attack, data.test.y, data.info.class_names))
        metrics["scans"] = scans["poisoned model"]
        if "clean model" in scans:
            metrics.setdefault("clean_model", {})["scans"] = scans["clean model"]
        figures.update(drawn)
        return scan_table(scans)

    def measure(
        self, ctx: TaskContext, model: nn.Module, triggered: torch.Tensor, attack: Any
    ) -> dict[str, Any]:
        """Clean accuracy, ASR, triggered accuracy and confusion of ``model`` (:func:`measure`)."""
        return measure(
            model, ctx.data(), triggered, attack, device=ctx.device, batch_size=ctx.eval_batch_size
        )

    def _art(
        self,
        ctx: TaskContext,
        model: nn.Module,
        poisoned: DataBundle,
        index: torch.Tensor,
        filters: list[Any],
    ) -> dict[str, Any]:
        """ART's detectors on the representations our filters read, and ART's backdoor attack."""
        from toolkit.baselines.art_backdoor import compare_filters
        from toolkit.tasks.backdoor_figures import images_of

        requested = ctx.recipe.recipe.baselines["art"]
        images = None
        if "poisoning_attack_backdoor" in requested:
            images = (
                images_of(ctx.data().train.x)[index].numpy(),
                images_of(poisoned.train.x)[index].numpy(),
            )
        specs = {c.name: (ctx.recipe.label("defenses", i), c.params)
                 for i, c in enumerate(ctx.recipe.section("defenses"))}  # fmt: skip
        train = ctx.outputs_of(model, poisoned.train.x, y=poisoned.train.y)
        train.want(*(p.get("layer", "features") for _, p in specs.values()))
        with ctx.log.stage("baselines"):
            return compare_filters(
                train, index, requested=requested, filters=specs, images=images,
                flagged=ctx.defended().history.get("flagged", {}) if filters else {},
                attack_params=ctx.recipe.family("attacks", "poisoning")[0].params, log=ctx.log.info,
            )  # fmt: skip

    def by_rate(
        self, ctx: TaskContext, triggered: torch.Tensor, attack: Any, metrics: dict[str, Any]
    ) -> list[dict[str, float]]:
        """The recipe trained again with each poison rate of ``rates`` (cached like any recipe):
        ASR and clean accuracy against the rate, this recipe's own point included."""
        import dataclasses

        spec = ctx.recipe.family("attacks", "poisoning")[0]
        has_count = "count" in {p.name for p in spec.entry.signature().params}
        own = float(spec.params.get("rate", 0.1)) if spec.params.get("count") is None else None
        keys = ("n_poisoned", "clean_accuracy", "attack_success_rate")
        points = [] if own is None else [{"rate": own, **{k: metrics[k] for k in keys}}]
        for rate in sorted(set(self.rates) - ({own} if own is not None else set())):
            params = {**spec.params, "rate": rate, **({"count": None} if has_count else {})}
            changed = dataclasses.replace(spec, params=params)
            sections = {k: [changed if c is spec else c for c in v] for k, v in ctx.recipe.components.items()}
            twin = ctx.twin(dataclasses.replace(ctx.recipe, components=sections))
            ctx.log.info(f"poison rate {rate:g}")
            result = self.measure(ctx, twin.trained().model, triggered, attack)
            poisoned = twin.training_data().extras.get("poisoned", torch.empty(0))
            points.append({"rate": rate, "n_poisoned": len(poisoned),
                           "clean_accuracy": result["clean_accuracy"],
                           "attack_success_rate": result["attack_success_rate"]})  # fmt: skip
        return sorted(points, key=lambda p: p["rate"])

    def _figures(
        self, ctx: TaskContext, poisoned: DataBundle, attack: Any, triggered: torch.Tensor,
        result: dict[str, Any], metrics: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        from toolkit.tasks import backdoor_figures as show

        data = ctx.data()
        names = data.info.class_names
        figures = kit.training_curves(ctx)
        figures["poisoned_set"] = show.poisoned_set_figure(poisoned, attack, names)
        if self.grid:
            figures["triggered_predictions"] = show.triggered_grid(data, triggered, result, names, self.grid)
        if "by_rate" in metrics:
            figures["asr_by_rate"] = show.rate_figure(metrics["by_rate"], metrics.get("clean_model"))
        _, figures["confusion_triggered"] = kit.confusion(
            data.test.y.numpy(), result["_triggered"], names, title="triggered test images"
        )
        return figures


def measure(
    model: nn.Module, data: DataBundle, triggered: torch.Tensor, attack: Any, *, device: Any, batch_size: int
) -> dict[str, Any]:
    """Clean accuracy, ASR (on all source images, and on those the model gets right when
    clean), triggered accuracy and the confusion on triggered images of ``model``; with the
    per-sample columns under ``_``-keys."""
    from toolkit.metrics.robustness import confusion

    y = data.test.y
    clean = kit.predict(model, data.test.x, device=device, batch_size=batch_size)
    hit = kit.predict(model, triggered, device=device, batch_size=batch_size)
    source = attack.eligible(y)
    wanted = attack.relabel(y)
    asr = float((hit[source] == wanted[source]).float().mean()) if source.any() else float("nan")
    right = source & (clean == y)  # source images the model gets right when clean
    asr_right = float((hit[right] == wanted[right]).float().mean()) if right.any() else float("nan")
    c_acc = float((clean == y).float().mean())
    r_acc = float((hit[source] == y[source]).float().mean()) if source.any() else float("nan")
    return {
        "clean_accuracy": c_acc,
        "attack_success_rate": asr,
        "attack_success_rate_on_correct": asr_right,
        "triggered_accuracy": float((hit == y).float().mean()),
        "robust_accuracy": r_acc,
        "c_acc": c_acc,  # BackdoorBench's names for the same three numbers
        "asr": asr,
        "r_acc": r_acc,
        "n_source_test": int(source.sum()),
        "confusion_triggered": confusion(y.numpy(), hit.numpy(), data.info.num_classes).tolist(),
        "_clean": clean.numpy(),
        "_triggered": hit.numpy(),
        "_source": source.numpy(),
    }


def defense_rates(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """BackdoorBench's defense effectiveness rate and robust improvement rate of a defense
    that turned the model ``before`` into the model ``after`` (Wu et al., "BackdoorBench",
    NeurIPS 2022 datasets and benchmarks; v2 for RIR):

    - ``DER = (max(0, ΔASR) - max(0, ΔACC) + 1) / 2``, with ``ΔASR = ASR_before - ASR_after``
      (the drop in attack success) and ``ΔACC = C-ACC_before - C-ACC_after`` (the clean
      accuracy lost);
    - ``RIR = (max(0, ΔRA) - max(0, ΔACC) + 1) / 2``, with ``ΔRA = R-ACC_after - R-ACC_before``
      (the triggered inputs classified right again).

    Both lie in ``[0, 1]``; 0.5 is a defense that changed nothing, 1 one that removed the
    backdoor (or restored every label) at no cost in accuracy. The formula is followed as
    written (some of BackdoorBench's helpers slip a sign).

    Example:
        >>> defense_rates({"c_acc": 0.9, "asr": 1.0, "r_acc": 0.0}, {"c_acc": 0.8, "asr": 0.2, "r_acc": 0.7})
        {'der': 0.85, 'rir': 0.8, 'delta_asr': 0.8, 'delta_acc': 0.1, 'delta_r_acc': 0.7}
    """
    d_asr = before["asr"] - after["asr"]
    d_acc = before["c_acc"] - after["c_acc"]
    d_ra = after["r_acc"] - before["r_acc"]
    return {
        "der": round((max(0.0, d_asr) - max(0.0, d_acc) + 1) / 2, 12),
        "rir": round((max(0.0, d_ra) - max(0.0, d_acc) + 1) / 2, 12),
        "delta_asr": round(d_asr, 12),
        "delta_acc": round(d_acc, 12),
        "delta_r_acc": round(d_ra, 12),
    }


def filter_scores(flagged: dict[str, list[int]], poisoned: torch.Tensor, n: int) -> dict[str, Any]:
    """Precision and recall of each filter's flags against the poisoned training samples."""
    from toolkit.baselines.art_backdoor import mask
    from toolkit.defenses.poison_scores import flag_scores

    truth = mask(poisoned.tolist(), n)
    return {label: flag_scores(mask(index, n), truth) for label, index in flagged.items()}


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The metrics of :func:`measure`, less its per-sample columns (``_``-keys)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


# figures and the image-folder export live beside the task
from toolkit.tasks.backdoor_figures import export_image_folder  # noqa: E402

__all__ = ["BackdoorTask", "defense_rates", "export_image_folder", "measure"]
