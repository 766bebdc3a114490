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

from toolkit.errors import Problem
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from torch import nn

    from toolkit.data.base import DataBundle
    from toolkit.execution.context import TaskContext
    from toolkit.recipe import ResolvedRecipe


class BackdoorTask:
    """Trigger poisoning (``task = "backdoor"``); parameters go in ``[evaluate]``.

    Metrics (``metrics.json``): ``clean_accuracy``, ``attack_success_rate``,
    ``triggered_accuracy``, ``n_poisoned``, ``poison_rate`` (share of the training set),
    ``n_test``, ``n_source_test``, ``confusion_triggered`` (true x predicted on triggered
    test images) and, with ``reference``, ``clean_model`` (the same numbers for the model
    trained without the attack) and ``accuracy_cost``. Figures: training curves, twenty
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
    AUROC, AUPR and rates at 95% of clean inputs accepted, clean test images against the
    triggered ones of the source classes (the ``ood`` task's metrics).

    Args:
        reference: also train the recipe without the attack and report it (default true).
        rates: more poison rates (the attack's ``rate``) to train with: ``by_rate`` and a
            figure give the ASR and clean accuracy against the rate (default none).
        export: write the poisoned training set as an image folder (default false).
        grid: triggered test images in the prediction figure (default 8).
    """

    uses = ("model", "train", "attacks", "defenses", "detectors", "baselines")
    requires = ("attacks",)
    baselines: ClassVar = {"art": ("activation_defence", "spectral_signature", "poisoning_attack_backdoor")}

    def __init__(
        self,
        *,
        reference: bool = True,
        export: bool = False,
        grid: Annotated[int, Field(ge=0)] = 8,
        rates: list[Annotated[float, Field(gt=0, le=1)]] = [],  # noqa: B006 - read-only default
    ) -> None:
        self.reference, self.export, self.grid, self.rates = reference, export, grid, list(rates)

    @classmethod
    def check(cls, recipe: ResolvedRecipe) -> list[Problem]:
        """Exactly one poisoning attack, on images."""
        problems = []
        for i, spec in enumerate(recipe.section("attacks")):
            if spec.family != "poisoning":
                problems.append(
                    Problem(
                        f"attacks.{i}.name",
                        f"the backdoor task takes poisoning attacks; '{spec.name}' is {spec.family}",
                    )
                )
        if len(recipe.family("attacks", "poisoning")) > 1:
            problems.append(Problem("attacks", "the backdoor task evaluates one poisoning attack at a time"))
        attacks = recipe.family("attacks", "poisoning")
        varies = recipe.task.params.get("rates") and attacks
        if varies and "rate" not in {p.name for p in attacks[0].entry.signature().params}:
            problems.append(
                Problem("evaluate.rates", f"attack '{attacks[0].name}' has no 'rate' parameter to vary")
            )
        if "poisoning_attack_backdoor" in recipe.recipe.baselines.get("art", []) and attacks:
            problems += _check_art_attack(attacks[0])
        return problems

    def run(self, ctx: TaskContext) -> TaskResult:
        """Train on the poisoned data (or reuse the model), then measure the trigger."""
        data, poisoned = ctx.data(), ctx.training_data()
        attack = ctx.build(ctx.recipe.family("attacks", "poisoning")[0])
        triggered = attack.trigger(data.test.x)
        filters = ctx.recipe.family("defenses", "filter")
        main = ctx.trained().model if filters else ctx.model()
        result = self.measure(main, data, triggered, attack, ctx)
        index = poisoned.extras.get("poisoned", torch.empty(0, dtype=torch.long))
        metrics: dict[str, Any] = {
            **public(result),
            "n_poisoned": len(index),
            "poison_rate": len(index) / max(len(poisoned.train), 1),
            "n_test": len(data.test),
        }
        ctx.log.info(
            f"clean accuracy {metrics['clean_accuracy']:.4f}, attack success rate "
            f"{metrics['attack_success_rate']:.4f} ({len(index)} poisoned training images)"
        )
        if filters:
            defended = ctx.defended()
            metrics["filters"] = filter_scores(defended.history["flagged"], index, len(poisoned.train))
            after = self.measure(defended.model, data, triggered, attack, ctx)
            metrics["after_removal"] = public(after)
            for label, score in metrics["filters"].items():
                ctx.log.info(f"filter {label}: flagged {score['flagged']}, recall {score['recall']:.3f}")
        if ctx.recipe.detectors:
            metrics["detectors"] = self.detect(ctx, main, data, triggered, result["_source"])
        if ctx.recipe.recipe.baselines.get("art"):
            flagged = ctx.defended().history.get("flagged", {}) if filters else {}
            metrics["baselines"] = {"art": art_filters(ctx, main, poisoned, index, flagged)}
        if self.rates:
            metrics["by_rate"] = self.by_rate(ctx, data, triggered, attack, metrics)
        if self.reference:
            clean = ctx.pipeline.variant("attacks", final=not filters)  # the poisoned model's twin
            ref = self.measure(clean.model, data, triggered, attack, ctx)
            metrics["clean_model"] = public(ref)
            metrics["accuracy_cost"] = ref["clean_accuracy"] - metrics["clean_accuracy"]
        figures = self._figures(ctx, poisoned, attack, triggered, result, metrics)
        if self.export and ctx.folder is not None:
            export_image_folder(poisoned, ctx.folder / "poisoned_set")
        samples = {"backdoor": {
            "label": data.test.y.numpy(), "clean_prediction": result["_clean"],
            "triggered_prediction": result["_triggered"], "source": result["_source"].astype(np.int8),
        }}  # fmt: skip
        tables = [self._table(metrics)]
        if filters:
            tables.append(_filter_table(metrics["filters"], len(index)))
        if "baselines" in metrics:
            tables.append(_art_table(metrics["baselines"]["art"], len(index)))
        return TaskResult(metrics=metrics, tables=tables, figures=figures, samples=samples)

    def by_rate(
        self,
        ctx: TaskContext,
        data: DataBundle,
        triggered: torch.Tensor,
        attack: Any,
        metrics: dict[str, Any],
    ) -> list[dict[str, float]]:
        """The recipe trained again with each poison rate of ``rates`` (cached like any recipe):
        ASR and clean accuracy against the rate, this recipe's own point included."""
        import dataclasses

        spec = ctx.recipe.family("attacks", "poisoning")[0]
        own = float(spec.params.get("rate", 0.1)) if spec.params.get("count") is None else None
        points = [] if own is None else [
            {"rate": own, "n_poisoned": metrics["n_poisoned"], "clean_accuracy": metrics["clean_accuracy"],
             "attack_success_rate": metrics["attack_success_rate"]}
        ]  # fmt: skip
        for rate in sorted(set(self.rates) - ({own} if own is not None else set())):
            changed = dataclasses.replace(spec, params={**spec.params, "rate": rate, "count": None})
            sections = {k: [changed if c is spec else c for c in v] for k, v in ctx.recipe.components.items()}
            twin = ctx.pipeline.sibling(dataclasses.replace(ctx.recipe, components=sections))
            ctx.log.info(f"poison rate {rate:g}")
            model = twin.trained().model
            result = self.measure(model, data, triggered, attack, ctx)
            poisoned = twin.training_data().extras.get("poisoned", torch.empty(0))
            points.append({"rate": rate, "n_poisoned": len(poisoned),
                           "clean_accuracy": result["clean_accuracy"],
                           "attack_success_rate": result["attack_success_rate"]})  # fmt: skip
        return sorted(points, key=lambda p: p["rate"])

    def _figures(
        self,
        ctx: TaskContext,
        poisoned: DataBundle,
        attack: Any,
        triggered: torch.Tensor,
        result: dict[str, Any],
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        from toolkit import plots

        data = ctx.data()
        names = data.info.class_names
        figures = {}
        if ctx.trained().history:
            figures["training_curves"] = plots.training_curves(ctx.trained().history)
        figures["poisoned_set"] = poisoned_set_figure(poisoned, attack, names)
        if self.grid:
            figures["triggered_predictions"] = self._grid(data, triggered, result, names)
        if "by_rate" in metrics:
            figures["asr_by_rate"] = rate_figure(metrics["by_rate"], metrics.get("clean_model"))
        matrix = np.asarray(result["confusion_triggered"])
        figures["confusion_triggered"] = plots.confusion(
            matrix, names, title="triggered test images", xlabel="predicted"
        )
        return figures

    def measure(
        self, model: nn.Module, data: DataBundle, triggered: torch.Tensor, attack: Any, ctx: TaskContext
    ) -> dict[str, Any]:
        """Clean accuracy, ASR, triggered accuracy and confusion of ``model``."""
        from toolkit.metrics.robustness import confusion
        from toolkit.outputs import Outputs

        y, device, size = data.test.y, ctx.device, ctx.eval_batch_size
        clean = Outputs(model, data.test.x, y=y, device=device, batch_size=size).predictions.cpu()
        hit = Outputs(model, triggered, y=y, device=device, batch_size=size).predictions.cpu()
        source = attack.eligible(y)
        wanted = attack.relabel(y)
        asr = float((hit[source] == wanted[source]).float().mean()) if source.any() else float("nan")
        right = source & (clean == y)  # source images the model gets right when clean
        asr_right = float((hit[right] == wanted[right]).float().mean()) if right.any() else float("nan")
        return {
            "clean_accuracy": float((clean == y).float().mean()),
            "attack_success_rate": asr,
            "attack_success_rate_on_correct": asr_right,
            "triggered_accuracy": float((hit == y).float().mean()),
            "n_source_test": int(source.sum()),
            "confusion_triggered": confusion(y.numpy(), hit.numpy(), data.info.num_classes).tolist(),
            "_clean": clean.numpy(),
            "_triggered": hit.numpy(),
            "_source": source.numpy(),
        }

    def detect(
        self,
        ctx: TaskContext,
        model: nn.Module,
        data: DataBundle,
        triggered: torch.Tensor,
        source: np.ndarray,
    ) -> dict[str, Any]:
        """Run-time detectors of triggered inputs (``strip``): each is fitted on the clean
        training split and scores the clean test images and the triggered ones of the source
        classes; AUROC and the rest as in the ``ood`` task (clean = in-distribution)."""
        from toolkit.metrics.ood import ood_metrics
        from toolkit.outputs import Outputs

        device, size = ctx.device, ctx.eval_batch_size
        train = Outputs(model, data.train.x, y=data.train.y, device=device, batch_size=size)
        clean = Outputs(model, data.test.x, y=data.test.y, device=device, batch_size=size)
        hit = Outputs(model, triggered[torch.from_numpy(source)], device=device, batch_size=size)
        out = {}
        for i, spec in enumerate(ctx.recipe.detectors):
            label = ctx.recipe.label("detectors", i)
            detector = ctx.build(spec).fit(model, train)
            s_clean = detector.score(model, clean).detach().double().cpu().numpy()
            s_hit = detector.score(model, hit).detach().double().cpu().numpy()
            out[label] = ood_metrics(s_clean, s_hit, 0.95)
            ctx.log.info(
                f"detector {label}: AUROC {out[label]['auroc']:.4f} (clean vs triggered test images)"
            )
        return out

    def _grid(
        self, data: DataBundle, triggered: torch.Tensor, result: dict[str, Any], names: list[str]
    ) -> Any:
        from toolkit import plots

        source = np.flatnonzero(result["_source"])[: self.grid]
        labels = data.test.y.numpy()
        images = np.concatenate([images_of(data.test.x)[source].numpy(), triggered[source].numpy()])
        titles = [f"{names[labels[i]]} → {names[result['_clean'][i]]}" for i in source]
        titles += [f"trigger → {names[result['_triggered'][i]]}" for i in source]
        marked = [False] * len(source) + [bool(result["_triggered"][i] != labels[i]) for i in source]
        title = "test images: clean (top) and triggered (bottom), true → predicted"
        return plots.labelled_images(images, titles, marked=marked, ncols=max(len(source), 1), title=title)

    def _table(self, m: dict[str, Any]) -> Table:
        rows: list[list[Any]] = [
            ["poisoned model", m["clean_accuracy"], m["attack_success_rate"], m["triggered_accuracy"]]
        ]
        if "after_removal" in m:
            a = m["after_removal"]
            names = ", ".join(m["filters"])
            rows.append([f"retrained without what {names} flagged", a["clean_accuracy"],
                         a["attack_success_rate"], a["triggered_accuracy"]])  # fmt: skip
        if "clean_model" in m:
            c = m["clean_model"]
            rows.append(
                ["clean model", c["clean_accuracy"], c["attack_success_rate"], c["triggered_accuracy"]]
            )
        return Table(
            title=f"Backdoor: {m['n_poisoned']} poisoned training images "
            f"({m['poison_rate']:.1%} of the training set)",
            columns=["model", "clean accuracy", "attack success rate", "triggered accuracy"],
            rows=rows,
        )


def art_filters(
    ctx: TaskContext,
    model: nn.Module,
    poisoned: DataBundle,
    index: torch.Tensor,
    flagged: dict[str, list[int]],
) -> dict[str, Any]:
    """ART's activation defence and spectral signatures on the representations our filters
    read (the poisoned model's, at the filter's ``layer``, on the training set it was trained
    on), with our filters' parameters where the recipe has them, and ART's backdoor attack
    (:mod:`toolkit.baselines.art_poison`). Nothing is computed for a baseline not asked for."""
    from toolkit.baselines import art_poison
    from toolkit.defenses.layers import representations
    from toolkit.outputs import Outputs

    train = Outputs(
        model, poisoned.train.x, y=poisoned.train.y, device=ctx.device, batch_size=ctx.eval_batch_size
    )
    labels = poisoned.train.y.numpy()
    truth = _mask(index.tolist(), len(labels))
    specs = {
        c.name: (ctx.recipe.label("defenses", i), c.params)
        for i, c in enumerate(ctx.recipe.section("defenses"))
    }

    def ours(name: str) -> np.ndarray | None:
        if name not in specs or specs[name][0] not in flagged:
            return None
        return _mask(flagged[specs[name][0]], len(labels))

    out: dict[str, Any] = {}
    with ctx.log.stage("baselines"):
        for name in ctx.recipe.recipe.baselines["art"]:
            if name == "poisoning_attack_backdoor":
                out[name] = _art_attack(ctx, poisoned, index)
                ctx.log.info(
                    f"ART {name}: {out[name]['identical']} of {out[name]['images']} images identical"
                )
                continue
            ours_name = "activation_clustering" if name == "activation_defence" else "spectral_signature"
            p = specs.get(ours_name, ("", {}))[1]
            features = representations(model, train, p.get("layer", "features"))  # the layer ours reads
            if name == "activation_defence":
                out[name] = art_poison.activation_defence(
                    features, labels, truth, dims=p.get("dims", 10), clusters=p.get("clusters", 2),
                    size_threshold=p.get("size_threshold", 0.35), ours=ours(ours_name),
                )  # fmt: skip
            else:
                out[name] = art_poison.spectral_signature(
                    features, labels, truth, expected_rate=p.get("expected_rate", 0.1),
                    multiplier=p.get("multiplier", 1.5), ours=ours(ours_name),
                )  # fmt: skip
            ctx.log.info(f"ART {name}: recall {out[name]['recall']:.3f}")
    return out


def _art_attack(ctx: TaskContext, poisoned: DataBundle, index: torch.Tensor) -> dict[str, Any]:
    """ART's backdoor attack on the clean versions of the images ours poisoned."""
    from toolkit.baselines import art_poison

    found = art_poison.art_perturbation(ctx.recipe.family("attacks", "poisoning")[0].params)
    assert not isinstance(found, str), found  # refused when the recipe was checked
    clean = images_of(ctx.data().train.x)[index].numpy()
    return art_poison.poisoning_attack_backdoor(clean, images_of(poisoned.train.x)[index].numpy(), *found)


def rate_figure(points: list[dict[str, float]], clean: dict[str, Any] | None) -> Any:
    """ASR and clean accuracy against the poison rate (the clean model's as dashed lines)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.6), layout="constrained")
    ax = fig.subplots()
    rates = [p["rate"] for p in points]
    ax.plot(rates, [p["attack_success_rate"] for p in points], marker="o", label="attack success rate")
    ax.plot(rates, [p["clean_accuracy"] for p in points], marker="s", label="clean accuracy")
    if clean is not None:
        ax.axhline(clean["attack_success_rate"], ls="--", color="C0", alpha=0.6, label="ASR, clean model")
        ax.axhline(clean["clean_accuracy"], ls="--", color="C1", alpha=0.6, label="accuracy, clean model")
    ax.set(xlabel="poison rate (share of the source classes' training images)", ylim=(0, 1.02),
           title="the backdoor against the poison rate")  # fmt: skip
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _check_art_attack(spec: Any) -> list[Problem]:
    """ART's backdoor attack reproduces patch triggers only, and only those ART can draw."""
    from toolkit.baselines.art_poison import art_perturbation

    where = "baselines.art"
    if spec.name not in ("patch_trigger", "adversarial_embedding"):
        return [Problem(where, f"poisoning_attack_backdoor reproduces a patch trigger, not '{spec.name}'")]
    found = art_perturbation(spec.params)
    return [Problem(where, f"poisoning_attack_backdoor: {found}")] if isinstance(found, str) else []


def _art_table(art: dict[str, Any], poisons: int) -> Table:
    rows = []
    for name, r in art.items():
        if "perturbation" in r:
            same = f"{r['identical']} of {r['images']} poisoned images"
            rows.append([f"{name}: {r['perturbation']}", "", "", "", same])
            continue
        spread = (
            f" ({r['recall_min']:.3f}-{r['recall_max']:.3f} over {r['seeds']} seeds)" if "seeds" in r else ""
        )
        rows.append(
            [name, r["flagged"], r["precision"], f"{r['recall']:.4f}{spread}", r.get("agreement", "")]
        )
    return Table(
        title=f"IBM ART on the same features and images, against the {poisons} poisoned training images",
        columns=["ART", "flagged", "precision", "recall", "same flags as ours"],
        rows=rows,
    )


def _filter_table(filters: dict[str, Any], poisons: int) -> Table:
    rows = [[k, v["flagged"], v["true_positives"], v["precision"], v["recall"]] for k, v in filters.items()]
    return Table(
        title=f"Poison filters, against the {poisons} poisoned training images",
        columns=["filter", "flagged", "poisons among them", "precision", "recall"],
        rows=rows,
    )


def filter_scores(flagged: dict[str, list[int]], poisoned: torch.Tensor, n: int) -> dict[str, Any]:
    """Precision and recall of each filter's flags against the poisoned training samples."""
    from toolkit.defenses.poison_scores import flag_scores

    truth = _mask(poisoned.tolist(), n)
    return {label: flag_scores(_mask(index, n), truth) for label, index in flagged.items()}


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The metrics of :meth:`BackdoorTask.measure`, less its per-sample columns (``_``-keys)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _mask(index: list[int], n: int) -> np.ndarray:
    """A boolean mask of ``n`` samples, true at ``index``."""
    mask = np.zeros(n, dtype=bool)
    mask[np.asarray(index, dtype=np.int64)] = True
    return mask


def poisoned_set_figure(poisoned: DataBundle, attack: Any, names: list[str]) -> Any:
    """Twenty training images after poisoning: ten labelled as the first class the poisons
    were moved to (poisoned ones first, marked), ten of the first source class."""
    from toolkit import plots

    x, y = images_of(poisoned.train.x), poisoned.train.y
    index = poisoned.extras.get("poisoned", torch.empty(0, dtype=torch.long))
    is_poison = torch.zeros(len(y), dtype=torch.bool)
    is_poison[index] = True
    into = int(y[index[0]]) if len(index) else int(attack.target)
    source = next((k for k in attack.sources if k != into), attack.sources[0])
    folder = (y == into).nonzero().flatten()
    pick = torch.cat([folder[is_poison[folder]][:5], folder[~is_poison[folder]]])[:10]
    other = ((y == source) & ~is_poison).nonzero().flatten()[:10]
    chosen = torch.cat([pick, other])
    titles = [f"{names[int(y[i])]}/" + (" poisoned" if is_poison[i] else "") for i in chosen]
    return plots.labelled_images(
        x[chosen].numpy(), titles, marked=[bool(is_poison[i]) for i in chosen], ncols=10,
        title=f"training images by label folder: {names[into]}/ (top) and {names[source]}/ (bottom)",
    )  # fmt: skip


def export_image_folder(poisoned: DataBundle, root: Any) -> None:
    """The poisoned training set as ``root/<class>/<index>.png`` (poisoned: ``<index>_poisoned.png``)."""
    from PIL import Image

    names = poisoned.info.class_names
    index = set(poisoned.extras.get("poisoned", torch.empty(0, dtype=torch.long)).tolist())
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    x = images_of(poisoned.train.x)
    for i in range(len(poisoned.train)):
        image = x[i].permute(1, 2, 0).numpy()
        mode = "L" if image.shape[2] == 1 else "RGB"
        file = f"{i}{'_poisoned' if i in index else ''}.png"
        Image.fromarray(image[:, :, 0] if mode == "L" else image).save(
            root / names[int(poisoned.train.y[i])] / file
        )


def images_of(x: Any) -> torch.Tensor:
    """A split's inputs as one image tensor (the backdoor attacks here work on images)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError("the backdoor task's figures need images as one tensor")
    return x
