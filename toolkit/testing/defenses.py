"""The conformance checks of defenses: data, batch and training-loop families."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle
from toolkit.data.inputs import num_samples, sample_shape, take, to_model_input
from toolkit.kinds import KINDS
from toolkit.testing._common import (
    _about,
    _assert_split,
    _bundle,
    _changed,
    _clone,
    _dtypes,
    _fit,
    _modalities,
    _mode,
    _same,
    _setup,
    _snapshot,
    _state,
    _state_changes,
)

# --------------------------------------------------------------------------- defenses


def check_defense(
    factory: Callable[..., Any],
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    data: DataBundle | None = None,
    model: Callable[..., nn.Module] | None = None,
) -> None:
    """Check a defense: its family decides how (data, batch or train).

    Data defenses are checked on synthetic images and features, batch defenses on synthetic
    images and bounded features, poison filters on synthetic images and features (one flag
    per training sample, the model untouched, the same flags twice), training defenses on a
    small subset of UCI Adult (binary, with the sensitive attributes race and sex); each on
    ``data`` instead if given. Batch, filter and training defenses get a small trained model
    (``model``'s, if given: a build function, needed for multi-part inputs).
    """
    from toolkit.protocols import ProtocolMismatch, family_of

    with _about(factory, "defense"):
        try:
            family = family_of(KINDS["defenses"], factory)
        except ProtocolMismatch as exc:
            raise AssertionError(f"it is no defense of a known family: {exc}") from None
        check = {
            "data": _check_data_defense,
            "batch": _check_batch_defense,
            "train": _check_training_defense,
            "filter": _check_filter_defense,
        }
        check[family](factory, dict(params or {}), seed, data, model)


def _check_data_defense(
    factory: Callable[..., Any], params: dict[str, Any], seed: int, data: DataBundle | None, build: Any
) -> None:
    from toolkit.protocols import bind

    bundles = (
        [data]
        if data is not None
        else [_bundle(seed, modality=m) for m in _modalities(factory, ("image", "tabular"), text=True)]
    )
    for bundle in bundles:
        where = f"on {bundle.info.name} ({bundle.info.modality})"
        snapshot = _snapshot(bundle)
        out = bind(factory(**params), bundle.info).transform(bundle)
        assert isinstance(out, DataBundle), (
            f"{where}: transform() returned {type(out).__name__}, not a DataBundle"
        )
        changed = _changed(bundle, snapshot)
        assert not changed, f"{where}: transform() changed the bundle it was given ({', '.join(changed[:4])})"
        _assert_split(
            out.train, f"{where}: the transformed train split", out.info, shape=sample_shape(bundle.train.x)
        )
        assert len(out.train) > 0, f"{where}: the transformed train split is empty"
        assert _same(out.test.x, bundle.test.x) and torch.equal(out.test.y, bundle.test.y), (
            f"{where}: transform() changed the test split; a data defense rewrites the training data only"
        )
        again = bind(factory(**params), bundle.info).transform(bundle)
        assert _same(again.train.x, out.train.x) and torch.equal(again.train.y, out.train.y), (
            f"{where}: the same parameters gave different training data (seed the defense's randomness)"
        )


def _check_batch_defense(
    factory: Callable[..., Any], params: dict[str, Any], seed: int, data: DataBundle | None, build: Any
) -> None:
    from toolkit.protocols import bind

    if data is not None:
        cases = [(data, _fit(data, seed, build))]
    else:
        names = {"image": "image", "tabular": "bounded", "text": "text"}
        cases = [
            _setup(None, names[m], seed, build) for m in _modalities(factory, ("image", "tabular"), text=True)
        ]
    for bundle, model in cases:
        info = bundle.info
        where = f"on {info.name} ({info.modality}, input domain {info.input_domain.describe()})"
        x = to_model_input(take(bundle.train.x, slice(0, 32)))
        if isinstance(x, torch.Tensor):
            x = x.clone()
        y = bundle.train.y[:32].clone()
        state = _state(model)
        x_before, y_before = _clone(x), y.clone()
        results = {}
        for training in (True, False):
            model.train(training)
            out = bind(factory(**params), info).transform(model, x, y)
            assert isinstance(out, tuple) and len(out) == 2, "transform() must return the pair (x, y)"
            x2, y2 = out
            assert sample_shape(x2) == sample_shape(x) and num_samples(x2) == num_samples(x), (
                f"{where}: transform() gave inputs of shape {sample_shape(x2)} x {num_samples(x2)}, "
                f"not {sample_shape(x)} x {num_samples(x)}"
            )
            assert _dtypes(x2) == _dtypes(x), f"{where}: transform() changed the inputs' dtype"
            assert isinstance(y2, torch.Tensor) and y2.shape == y.shape and y2.dtype == y.dtype, (
                f"{where}: transform() gave labels of shape {tuple(getattr(y2, 'shape', ()))}, "
                f"not {tuple(y.shape)}"
            )
            if isinstance(x2, torch.Tensor) and info.input_domain.kind == "continuous":
                assert bool(torch.isfinite(x2).all()), f"{where}: the transformed inputs are not finite"
                assert info.input_domain.contains(x2), (
                    f"{where}: the transformed inputs leave the input domain"
                )
            assert model.training is training, (
                f"{where}: transform() left a model that was in {_mode(training)} mode in "
                f"{_mode(model.training)} mode (restore it: the training loop relies on it)"
            )
            changed = _state_changes(model, state)
            assert not changed, (
                f"{where}: transform() changed the model's weights or buffers ({', '.join(changed[:3])}); "
                "the training step is the loop's"
            )
            assert _same(x, x_before) and torch.equal(y, y_before), (
                f"{where}: transform() changed its input batch in place"
            )
            results[training] = (x2, y2)
        model.train(True)
        x3, y3 = bind(factory(**params), info).transform(model, x, y)
        model.eval()
        assert _same(x3, results[True][0]) and torch.equal(y3, results[True][1]), (
            f"{where}: the same parameters gave a different batch (seed the defense's randomness)"
        )


def _check_filter_defense(
    factory: Callable[..., Any], params: dict[str, Any], seed: int, data: DataBundle | None, build: Any
) -> None:
    from toolkit.outputs import Outputs
    from toolkit.protocols import bind

    for modality in [None] if data is not None else _modalities(factory, ("image", "tabular"), text=True):
        bundle, model = _setup(data, modality or "image", seed, build)
        where = f"on {bundle.info.name} ({bundle.info.modality})"
        state = _state(model)
        outputs = Outputs(model, bundle.train.x, y=bundle.train.y)
        flags = bind(factory(**params), bundle.info).flag(model, outputs)
        assert isinstance(flags, torch.Tensor) and flags.dtype == torch.bool, (
            f"{where}: flag() returned {type(flags).__name__} {getattr(flags, 'dtype', '')}, "
            "not a bool tensor"
        )
        assert flags.shape == (len(bundle.train),), (
            f"{where}: flag() returned shape {tuple(flags.shape)}, not ({len(bundle.train)},): "
            "one flag per sample"
        )
        assert not _state_changes(model, state), f"{where}: flag() changed the model"
        again = bind(factory(**params), bundle.info).flag(
            model, Outputs(model, bundle.train.x, y=bundle.train.y)
        )
        assert torch.equal(again, flags), f"{where}: the same parameters flagged other samples (seed it)"


def _check_training_defense(
    factory: Callable[..., Any], params: dict[str, Any], seed: int, data: DataBundle | None, build: Any
) -> None:
    from toolkit.protocols import bind

    bundle, trained = _setup(data, "fair", seed, build)
    where = f"on {bundle.info.name} ({bundle.info.modality})"
    snapshot = _snapshot(bundle)
    results = []
    for _ in range(2):
        model = copy.deepcopy(trained)
        tensors = [id(p) for p in model.parameters()] + [id(b) for b in model.buffers()]
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        defense = bind(factory(**params), bundle.info)
        history = defense.train(model, bundle, seed=seed, device="cpu")
        assert isinstance(history, list | dict), (
            f"{where}: train() returned {type(history).__name__}; return the history as a list of records "
            "(or a dict of them)"
        )
        assert [id(p) for p in model.parameters()] + [id(b) for b in model.buffers()] == tensors, (
            f"{where}: train() replaced the model's parameters or buffers; change them in place"
        )
        assert {k: v.shape for k, v in model.state_dict().items()} == shapes, (
            f"{where}: train() changed the model's architecture (its state_dict keys or shapes)"
        )
        changed = _changed(bundle, snapshot)
        assert not changed, f"{where}: train() changed the data it was given ({', '.join(changed[:4])})"
        results.append(_state(model))
    differ = [k for k in results[0] if not torch.equal(results[0][k], results[1][k])]
    assert not differ, f"{where}: the same seed gave different models ({', '.join(differ[:3])})"
