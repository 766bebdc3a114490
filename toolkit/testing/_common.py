"""What the conformance checks share: readable failures, snapshots of data and models, and
the small data sets and models the checks run on."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle, DataInfo, Split
from toolkit.data.domain import Domain
from toolkit.data.inputs import Inputs, sample_shape
from toolkit.errors import ToolkitError
from toolkit.kinds import list_sections


#: The recipe sections a task may name in ``uses``.
def task_sections() -> tuple[str, ...]:
    """The recipe sections a task may name in ``uses``."""
    return (*list_sections(), "model", "train", "baselines")


# --------------------------------------------------------------------------- helpers


def _label(factory: Any, kind: str) -> str:
    name = getattr(factory, "__qualname__", None) or type(factory).__name__
    module = getattr(factory, "__module__", None)
    return f"{kind} {name}" + (f" ({module})" if module else "")


@contextlib.contextmanager
def _about(factory: Any, kind: str) -> Iterator[None]:
    """Run a check: one torch thread (the check's models are tiny, and several threads on a
    busy machine make them many times slower), and the component's name at the start of
    the message of a failed check."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{_label(factory, kind)}: {exc}").with_traceback(exc.__traceback__) from None
    except ToolkitError:  # a clear error of the toolkit's own (data not there, a bad parameter)
        raise
    except Exception as exc:  # a component that breaks the contract fails the check, named
        raise AssertionError(f"{_label(factory, kind)}: raised {type(exc).__name__}: {exc}") from exc
    finally:
        torch.set_num_threads(threads)


def _clone(x: Inputs) -> Inputs:
    if isinstance(x, Mapping):
        return {k: v.detach().clone() for k, v in x.items()}
    return x.detach().clone()


def _same(a: Inputs, b: Inputs) -> bool:
    """Whether two inputs (tensors or mappings of tensors) are equal, dtype and shape included."""
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
            return False
        return all(_same(a[k], b[k]) for k in a)
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def _tensor(x: Inputs, what: str) -> torch.Tensor:
    """``x`` if it is one tensor; a failed check if it is a mapping of tensors."""
    assert not isinstance(x, Mapping), (
        f"{what} need tensor inputs, not a mapping of tensors (give other data)"
    )
    return x


def _dtypes(x: Inputs) -> Any:
    return {k: v.dtype for k, v in x.items()} if isinstance(x, Mapping) else x.dtype


def _split_tensors(split: Split) -> dict[str, torch.Tensor]:
    out = {"y": split.y}
    if isinstance(split.x, Mapping):
        out.update({f"x[{k!r}]": v for k, v in split.x.items()})
    else:
        out["x"] = split.x
    out.update({f"groups[{k!r}]": v for k, v in split.groups.items()})
    return out


def _bundle_tensors(bundle: DataBundle) -> dict[str, torch.Tensor]:
    splits = {"train": bundle.train, "test": bundle.test, "ood": bundle.ood}
    return {
        f"{name}.{key}": value
        for name, split in splits.items()
        if split is not None
        for key, value in _split_tensors(split).items()
    }


def _snapshot(bundle: DataBundle) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in _bundle_tensors(bundle).items()}


def _changed(bundle: DataBundle, snapshot: Mapping[str, torch.Tensor]) -> list[str]:
    """The tensors of ``bundle`` that differ from ``snapshot`` (or were added or removed)."""
    now = _bundle_tensors(bundle)
    keys = set(now) | set(snapshot)
    return sorted(
        k
        for k in keys
        if k not in now
        or k not in snapshot
        or now[k].shape != snapshot[k].shape
        or not torch.equal(now[k], snapshot[k])
    )


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _state_changes(model: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    now = model.state_dict()
    return sorted(
        k
        for k in set(now) | set(state)
        if k not in now or k not in state or not torch.equal(now[k], state[k])
    )


def _grads(model: nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def _grads_changed(model: nn.Module, grads: Sequence[torch.Tensor | None]) -> bool:
    for p, g in zip(model.parameters(), grads, strict=True):
        if (p.grad is None) != (g is None) or (g is not None and not torch.equal(p.grad, g)):  # type: ignore[arg-type]
            return True
    return False


def _mode(training: bool) -> str:
    return "train" if training else "eval"


def _assert_split(
    split: Split, name: str, info: DataInfo, *, shape: Any = None, classes: int | None = None
) -> None:
    """Lengths, label dtype and range (``0..classes-1``, default the info's classes; 0: not
    checked), sample shape of one split."""
    n = len(split)
    assert split.y.dtype == torch.int64 and split.y.dim() == 1, (
        f"{name}: labels must be int64 of shape (N,), got {split.y.dtype} {tuple(split.y.shape)}"
    )
    if isinstance(split.x, Mapping):
        assert len(split.x) > 0, f"{name}: a multi-part input needs at least one named tensor"
        for key, part in split.x.items():
            assert isinstance(part, torch.Tensor), (
                f"{name}: input part {key!r} is {type(part).__name__}, not a tensor"
            )
            assert part.shape[0] == n, (
                f"{name}: input part {key!r} has {part.shape[0]} samples but there are {n} labels"
            )
    else:
        assert isinstance(split.x, torch.Tensor), f"{name}: inputs are {type(split.x).__name__}, not a tensor"
        assert split.x.shape[0] == n, f"{name}: {split.x.shape[0]} inputs but {n} labels"
    expected = info.input_shape if shape is None else shape
    got = sample_shape(split.x)
    if isinstance(expected, Mapping):
        expected = {k: tuple(v) for k, v in expected.items()}
    else:
        expected = tuple(expected)
    assert got == expected, f"{name}: samples of shape {got}, expected {expected}"
    for key, col in split.groups.items():
        assert col.shape[0] == n, f"{name}: group column {key!r} has {col.shape[0]} rows, not {n}"
    k = info.num_classes if classes is None else classes
    if n and k:
        assert int(split.y.min()) >= 0 and int(split.y.max()) < k, f"{name}: labels outside 0..{k - 1}"


# --------------------------------------------------------------------------- data and models


@functools.cache
def _cached_data(kind: str, seed: int) -> DataBundle:
    from toolkit.data.synthetic import load

    if kind in ("tabular", "image"):
        return load(seed, n_classes=4, n_per_class=40, modality=kind, holdout=["c3"])  # type: ignore[arg-type]
    if kind == "bounded":
        return _bounded(_cached_data("tabular", seed))
    if kind == "fair":
        return _fair(seed)
    if kind == "text":
        from toolkit.testing.text import example_text_data

        return example_text_data(seed)
    raise ValueError(f"no check data '{kind}'")


def _bundle(seed: int = 0, *, modality: str = "tabular") -> DataBundle:
    """Synthetic check data (a fresh copy): ``"tabular"``, ``"image"`` (uint8, ``[0, 1]``
    domain), ``"bounded"`` (tabular with per-feature bounds) or ``"fair"`` (a subset of UCI
    Adult, with the sensitive attributes race and sex)."""
    return copy.deepcopy(_cached_data(modality, seed))


def _bounded(bundle: DataBundle) -> DataBundle:
    """Tabular data inside per-feature bounds (the 10% and 90% quantiles of each feature),
    the values beyond them clamped onto them: many values sit on the boundary, so an
    attack that ignores the input domain leaves it."""
    splits = [bundle.train, bundle.test] + ([bundle.ood] if bundle.ood is not None else [])
    everything = torch.cat([_tensor(s.x, "bounded check data") for s in splits])
    low, high = everything.quantile(0.1, dim=0), everything.quantile(0.9, dim=0)
    train, test, *ood = [
        Split(torch.maximum(torch.minimum(_tensor(s.x, ""), high), low), s.y.clone(), dict(s.groups))
        for s in splits
    ]
    domain = Domain(tuple(low.tolist()), tuple(high.tolist()))
    info = dataclasses.replace(bundle.info, name="synthetic-bounded", domain=domain)
    return DataBundle(train, test, info, ood[0] if ood else None, list(bundle.ood_class_names))


def _fair(seed: int, n_train: int = 192, n_test: int = 96) -> DataBundle:
    """A small random subset of UCI Adult (bundled with the toolkit): binary labels and the
    sensitive attributes race and sex, for defenses with a training loop of their own."""
    from toolkit.data.adult import load

    full = load(seed)
    g = torch.Generator().manual_seed(seed)
    train = full.train.subset(torch.randperm(len(full.train), generator=g)[:n_train])
    test = full.test.subset(torch.randperm(len(full.test), generator=g)[:n_test])
    return DataBundle(train, test, full.info)


def example_data(factory: Any) -> DataBundle | None:
    """The data a component names as its ``example_data`` (``None`` if it names none)."""
    spec = getattr(factory, "example_data", None)
    if spec is None:
        return None
    if isinstance(spec, DataBundle):
        return spec
    if isinstance(spec, Mapping):
        from toolkit.registry import registry

        table = dict(spec)
        name = table.pop("name", None)
        assert isinstance(name, str), f"example_data {spec!r} names no dataset (a table with 'name')"
        bundle = registry("datasets").load(name)(0, **table)
    elif callable(spec):
        bundle = spec()
    else:
        raise AssertionError(
            f"example_data must be a dataset table ({{'name': ...}}) or a function returning a DataBundle, "
            f"not {type(spec).__name__}"
        )
    assert isinstance(bundle, DataBundle), f"example_data gave {type(bundle).__name__}, not a DataBundle"
    return bundle


def _default_build(bundle: DataBundle) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    if bundle.info.modality == "text" and bundle.info.tokenizer is not None:
        from toolkit.models.hf_text import build as hf_text

        return hf_text, {"checkpoint": bundle.info.tokenizer}
    if bundle.info.modality == "image" and isinstance(bundle.train.x, torch.Tensor):
        from toolkit.models.small_cnn import build as cnn

        return cnn, {"channels": [8, 16], "hidden": 16}
    from toolkit.models.mlp import build as mlp

    return mlp, {"hidden": [16]}


def _fit(
    bundle: DataBundle,
    seed: int = 0,
    build: Callable[..., nn.Module] | None = None,
    params: Mapping[str, Any] | None = None,
) -> nn.Module:
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    text = bundle.info.modality == "text" and bundle.info.tokenizer is not None
    if build is None:
        if isinstance(bundle.train.x, Mapping) and not text:
            raise AssertionError(
                f"the data '{bundle.info.name}' has multi-part inputs: give the check a model "
                "(check_detector or check_defense with model=build)"
            )
        build, params = _default_build(bundle)
    torch.manual_seed(seed)
    model = build(bundle.info, **dict(params or {}))
    config = (
        TrainConfig(epochs=8, lr=3e-3, batch_size=16, optimizer="adamw")
        if text
        else TrainConfig(epochs=3, lr=0.1, batch_size=32)
    )
    train(model, bundle.train, config, seed=seed, info=bundle.info)
    return model.eval()


@functools.cache
def _cached_model(kind: str, seed: int) -> nn.Module:
    return _fit(_cached_data(kind, seed), seed)


def _trained_model(
    bundle: DataBundle | None = None, seed: int = 0, *, modality: str | None = None
) -> nn.Module:
    """A small model trained on ``bundle`` for 3 epochs (a fresh copy of a cached one for the
    synthetic check data named by ``modality``)."""
    if bundle is None or modality is not None:
        return copy.deepcopy(_cached_model(modality or "tabular", seed))
    return _fit(bundle, seed)


def _setup(
    data: DataBundle | None, default: str, seed: int, model: Callable[..., nn.Module] | None = None
) -> tuple[DataBundle, nn.Module]:
    """The data and trained model a check works on: the given data, else the check data ``default``."""
    if data is None and model is None:
        return _bundle(seed, modality=default), _trained_model(seed=seed, modality=default)
    bundle = data if data is not None else _bundle(seed, modality=default)
    return bundle, _fit(bundle, seed, model)


def _modalities(factory: Any, default: Sequence[str], *, text: bool = False) -> list[str]:
    """The check data a component is checked on: the ``default`` modalities it supports, and
    (with ``text``) the tiny offline text data of :mod:`toolkit.testing.text` when it declares text."""
    declared = getattr(factory, "modalities", None)
    out = [m for m in default if declared is None or m in declared]
    if text and declared is not None and "text" in declared and "text" not in out:
        out.append("text")
    return out
