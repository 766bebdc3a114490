"""The backdoor task's pictures, tables and files: the poisoned training set by label folder,
its export as an image folder, triggered test images with their predictions, the attack
against the poison rate, and the summary and filter tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toolkit.results import Table

if TYPE_CHECKING:
    from toolkit.data.base import DataBundle


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


def poisoned_set_figure(poisoned: DataBundle, attack: Any, names: list[str]) -> Any:
    """Twenty training images after poisoning: ten labelled as the first class the poisons
    were moved to (poisoned ones first, marked), ten of the first source class."""
    from toolkit import plots

    x, y = images_of(poisoned.train.x), poisoned.train.y
    index = poisoned.extras.get("poisoned", torch.empty(0, dtype=torch.long))
    is_poison = torch.zeros(len(y), dtype=torch.bool)
    is_poison[index] = True
    classes = torch.arange(len(names))
    sources = classes[attack.eligible(classes)].tolist() or [0]  # the classes the trigger moves
    into = int(y[index[0]]) if len(index) else int(attack.relabel(torch.tensor(sources[:1]))[0])
    source = next((k for k in sources if k != into), sources[0])
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


def triggered_grid(
    data: DataBundle, triggered: torch.Tensor, result: dict[str, Any], names: list[str], k: int
) -> Any:
    """The first ``k`` test images of the source classes, clean (top) and triggered (bottom),
    with their true and predicted classes."""
    from toolkit import plots

    source = np.flatnonzero(result["_source"])[:k]
    labels = data.test.y.numpy()
    images = np.concatenate([images_of(data.test.x)[source].numpy(), triggered[source].numpy()])
    titles = [f"{names[labels[i]]} → {names[result['_clean'][i]]}" for i in source]
    titles += [f"trigger → {names[result['_triggered'][i]]}" for i in source]
    marked = [False] * len(source) + [bool(result["_triggered"][i] != labels[i]) for i in source]
    title = "test images: clean (top) and triggered (bottom), true → predicted"
    return plots.labelled_images(images, titles, marked=marked, ncols=max(len(source), 1), title=title)


def summary_table(m: dict[str, Any]) -> Table:
    """The poisoned model, the model retrained without what the filters flagged, the clean
    model, with BackdoorBench's C-ACC, ASR and R-ACC, and the filters' DER and RIR."""

    def row(name: str, r: dict[str, Any], rates: dict[str, Any] | None = None) -> list[Any]:
        der, rir = (rates or {}).get("der", ""), (rates or {}).get("rir", "")
        accuracy = (r["clean_accuracy"], r["attack_success_rate"], r["robust_accuracy"])
        return [name, *accuracy, r["triggered_accuracy"], der, rir]

    rows: list[list[Any]] = [row("poisoned model", m)]
    if "after_removal" in m:
        names = ", ".join(m["filters"])
        rows.append(row(f"retrained without what {names} flagged", m["after_removal"], m["after_removal"]))
    if "clean_model" in m:
        rows.append(row("clean model", m["clean_model"]))
    return Table(
        title=f"Backdoor: {m['n_poisoned']} poisoned training images "
        f"({m['poison_rate']:.1%} of the training set)",
        columns=["model", "C-ACC", "ASR", "R-ACC", "triggered accuracy", "DER", "RIR"],
        rows=rows,
    )


def filter_table(filters: dict[str, Any], poisons: int) -> Table:
    rows = [[k, v["flagged"], v["true_positives"], v["precision"], v["recall"]] for k, v in filters.items()]
    return Table(
        title=f"Poison filters, against the {poisons} poisoned training images",
        columns=["filter", "flagged", "poisons among them", "precision", "recall"],
        rows=rows,
    )
