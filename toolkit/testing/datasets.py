"""The conformance check of datasets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from toolkit.data.base import DataBundle, DataInfo, Split
from toolkit.data.domain import Domain
from toolkit.data.inputs import to_model_input
from toolkit.testing._common import (
    _about,
    _assert_split,
    _same,
)

# --------------------------------------------------------------------------- datasets


def check_dataset(
    load: Callable[..., DataBundle], *, params: Mapping[str, Any] | None = None, seed: int = 0
) -> None:
    """Check a dataset component's ``load(seed, **params)``."""
    with _about(load, "dataset"):
        _check_dataset(load, dict(params or {}), seed)


def _check_dataset(load: Callable[..., DataBundle], params: dict[str, Any], seed: int) -> None:
    bundle = load(seed, **params)
    assert isinstance(bundle, DataBundle), f"load() returned {type(bundle).__name__}, not a DataBundle"
    info = bundle.info
    assert isinstance(info, DataInfo), f"bundle.info is {type(info).__name__}, not a DataInfo"
    assert info.num_classes >= 2, "a dataset needs at least two classes"
    assert isinstance(info.input_domain, Domain), "info.domain must be a toolkit.data.domain.Domain"
    splits = {"train": bundle.train, "test": bundle.test}
    if bundle.ood is not None:
        splits["ood"] = bundle.ood
    for name, split in splits.items():
        assert isinstance(split, Split), f"bundle.{name} is {type(split).__name__}, not a Split"
        assert len(split) > 0, f"the {name} split is empty"
        if name == "ood":  # held-out labels index the full class list, ood_class_names
            _assert_split(split, name, info, classes=len(bundle.ood_class_names))
        else:
            _assert_split(split, name, info)
            missing = [a for a in info.sensitive if a not in split.groups]
            assert not missing, (
                f"{name}: info.sensitive names {missing}, but the split has no such group columns"
            )
        if info.modality == "image" and not isinstance(split.x, Mapping):
            assert split.x.dtype == torch.uint8 and split.x.dim() == 4, (
                f"{name}: images must be uint8 (N, C, H, W), got {split.x.dtype} {tuple(split.x.shape)}"
            )
        elif info.modality == "tabular" and not isinstance(split.x, Mapping):
            assert split.x.dtype == torch.float32 and split.x.dim() == 2, (
                f"{name}: features must be float32 (N, D), got {split.x.dtype} {tuple(split.x.shape)}"
            )
        domain = info.input_domain
        if domain.kind == "continuous" and domain.bounded and not isinstance(split.x, Mapping):
            assert domain.contains(to_model_input(split.x), atol=1e-5), (  # type: ignore[arg-type]
                f"{name}: inputs outside the declared input domain {domain.describe()}"
            )
    again = load(seed, **params)
    for name in ("train", "test"):
        a, b = splits[name], again.split(name)
        assert _same(a.x, b.x) and torch.equal(a.y, b.y), f"the same seed gave different {name} data"
