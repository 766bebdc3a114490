"""The OOD data sets of an ``ood`` recipe: loaded, sampled and brought to the
in-distribution shape, with the OpenOOD v1.5 way of averaging metrics per group.

OpenOOD v1.5 (Zhang et al. 2023, "OpenOOD v1.5: Enhanced Benchmark for Out-of-Distribution
Detection") scores a CIFAR-10 classifier against *near* OOD sets (CIFAR-100,
TinyImageNet: semantic shift, similar images) and *far* ones (MNIST, SVHN, Textures,
Places365), reports every metric per set, and averages each metric over the sets of a
group (the "near" and "far" columns of its tables). Each set is a dataset component
(``toolkit show datasets``) with its own parameters, loaded with the recipe's seed; the
``ood`` task reads its test split (or all of its splits with ``ood_split = "all"``), at most
``ood_samples`` images of it (a seeded sample), converted to the in-distribution images'
channels and size (:func:`toolkit.data.conform.to_shape`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toolkit.data.conform import to_shape
from toolkit.errors import DataError

if TYPE_CHECKING:
    from toolkit.data.base import DataBundle, DataInfo

__all__ = ["GROUPS", "OODSet", "group_means", "load_sets"]

#: The groups, in the order OpenOOD reports them.
GROUPS = ("near", "far")
#: The metrics averaged per group (the threshold is per set and is not averaged).
AVERAGED = ("fpr_at_tpr", "fpr_at_tpr_ood_positive", "auroc", "aupr_in", "aupr_out")


@dataclass
class OODSet:
    """One OOD data set, ready to score.

    Args:
        key: its label in metrics and tables (the dataset name; ``name_2`` for a repeat).
        group: ``near`` or ``far``.
        x: its images, ``uint8`` in the in-distribution shape.
        described: where the images came from, for the log and the report.
    """

    key: str
    group: str
    x: torch.Tensor
    described: str


def load_sets(
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
    info: DataInfo,
    *,
    seed: int,
    split: str = "test",
    samples: int | None = None,
) -> list[OODSet]:
    """Every data set of ``groups`` (``{"near": [table, ...], "far": [...]}``, each table a
    validated dataset table with its ``name``), loaded, sampled and converted.

    Raises:
        DataError: a set is not images (or the in-distribution data is not), naming it.
    """
    from toolkit.registry import registry

    sets: list[OODSet] = []
    seen: dict[str, int] = {}
    for group in GROUPS:
        for table in groups.get(group) or ():
            name = str(table["name"])
            seen[name] = seen.get(name, 0) + 1
            key = name if seen[name] == 1 else f"{name}_{seen[name]}"
            entry = registry("datasets").get(name)
            params = _only_what_is_scored(entry, {k: v for k, v in table.items() if k != "name"}, split)
            what = f"OOD data set {key} (evaluate.{group}.{len(sets_of(sets, group))})"
            try:
                bundle = entry.load()(seed, **params)
            except (DataError, OSError, UnicodeDecodeError) as exc:  # a file of the set, named
                raise DataError(f"{what}: {exc}") from exc
            x, total = _images(bundle, info, split=split, what=what)
            index = _sample(total, samples, seed + len(sets))
            x = x[index] if index is not None else x
            converted = to_shape(x, info.tensor_shape, what=what)
            described = (
                f"{name}, {split} split: {len(converted)} of {total} images, as {tuple(converted.shape[1:])}"
            )
            sets.append(OODSet(key=key, group=group, x=converted, described=described))
    return sets


def _only_what_is_scored(entry: Any, params: dict[str, Any], split: str) -> dict[str, Any]:
    """``params``, asking a data set that can subsample its training split for one image per
    class when only its test split is scored (Tiny ImageNet's 100,000 training images are
    then not decoded), unless the recipe sets ``train_per_class`` itself."""
    names = {p.name for p in entry.signature().params}
    if split == "test" and "train_per_class" in names and params.get("train_per_class") is None:
        return {**params, "train_per_class": 1}
    return params


def sets_of(sets: Sequence[OODSet], group: str) -> list[OODSet]:
    """The sets of one group, in recipe order."""
    return [s for s in sets if s.group == group]


def _images(bundle: DataBundle, info: DataInfo, *, split: str, what: str) -> tuple[torch.Tensor, int]:
    """The images of ``split`` (``test``, or ``all``: train, test and held-out) and their count."""
    if info.modality != "image":
        raise DataError(
            f"{what}: OOD data sets are compared as images, but the in-distribution data "
            f"'{info.name}' is {info.modality}; use held-out classes (dataset.holdout) instead"
        )
    if bundle.info.modality != "image" or isinstance(bundle.test.x, Mapping):
        raise DataError(f"{what} is {bundle.info.modality} data, not images; give an image data set")
    splits = [bundle.test] if split == "test" else [bundle.train, bundle.test]
    if split != "test" and bundle.ood is not None:
        splits.append(bundle.ood)
    parts = [torch.as_tensor(s.x) for s in splits]  # images, checked above
    x = torch.cat(parts) if len(parts) > 1 else parts[0]
    if len(x) == 0:
        raise DataError(f"{what}: its {split} split has no images")
    return x, len(x)


def _sample(total: int, samples: int | None, seed: int) -> torch.Tensor | None:
    """Sorted indices of a seeded sample of ``samples`` out of ``total`` (``None``: keep all)."""
    if samples is None or samples >= total:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=g)[:samples].sort().values


def group_means(per_set: Mapping[str, Mapping[str, Any]], sets: Sequence[OODSet]) -> dict[str, Any]:
    """Per group, per detector, the mean over the group's sets of each metric of
    :data:`AVERAGED` (``per_set[key][detector]`` holds each set's metrics)."""
    out: dict[str, Any] = {}
    for group in GROUPS:
        keys = [s.key for s in sets if s.group == group]
        if not keys:
            continue
        detectors = per_set[keys[0]]
        out[group] = {
            det: {m: float(np.mean([per_set[k][det][m] for k in keys])) for m in AVERAGED} | {"sets": keys}
            for det in detectors
        }
    return out
