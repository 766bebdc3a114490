"""The conformance check of detectors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle
from toolkit.testing._common import (
    _about,
    _clone,
    _mode,
    _same,
    _setup,
    _state,
    _state_changes,
)

# --------------------------------------------------------------------------- detectors


def check_detector(
    factory: Callable[..., Any],
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    data: DataBundle | None = None,
    model: Callable[..., nn.Module] | None = None,
) -> None:
    """Check a detector: ``factory(**params).fit(model, train)`` then ``.score(model, x)``,
    on synthetic features (or ``data``, with the model ``model`` builds for multi-part inputs);
    a model scanner (``scan`` and no ``score``): ``factory(**params).scan(model, x)`` on
    synthetic images (or ``data``)."""
    with _about(factory, "detector"):
        if callable(getattr(factory, "scan", None)) and not callable(getattr(factory, "score", None)):
            _check_scanner(factory, dict(params or {}), seed, data, model)
        else:
            _check_detector(factory, dict(params or {}), seed, data, model)


def _check_scanner(
    factory: Callable[..., Any],
    params: dict[str, Any],
    seed: int,
    data: DataBundle | None,
    build: Callable[..., nn.Module] | None,
) -> None:
    """A scanner returns a ModelScan with one value per class, leaves the model, its mode and
    the inputs as they were, and repeats itself."""
    from toolkit.data.inputs import to_model_input
    from toolkit.detectors.scan import ModelScan

    bundle, model = _setup(data, "image", seed, build)
    weights = _state(model)
    x = to_model_input(bundle.test.x)
    assert isinstance(x, torch.Tensor), "a model scanner is checked on images"
    k = bundle.info.num_classes

    def scan(mode: bool) -> ModelScan:
        torch.manual_seed(seed)
        model.train(mode)
        before = x.clone()
        found = factory(**params).scan(model, x)
        assert model.training is mode, (
            f"the scanner left a model that was in {_mode(mode)} mode in {_mode(model.training)} mode"
        )
        assert torch.equal(x, before), "the scanner changed the inputs"
        return found

    found = scan(False)
    changed = _state_changes(model, weights)
    assert not changed, f"the scanner changed the model's parameters ({', '.join(changed[:3])})"
    assert isinstance(found, ModelScan), f"scan() returned {type(found).__name__}, not a ModelScan"
    assert len(found.values) == k and len(found.anomaly_index) == k, (
        f"a scan has one value and one anomaly index per class ({k}), got {len(found.values)} and "
        f"{len(found.anomaly_index)}"
    )
    assert all(0 <= c < k for c in found.flagged), f"flagged classes {found.flagged} outside 0..{k - 1}"
    for key, column in found.details.items():
        assert len(column) == k, f"details['{key}'] has {len(column)} entries, not one per class ({k})"
    again = scan(False)  # a GPU's convolutions are not bit-exact: the same scan within rounding
    same = torch.allclose(torch.tensor(again.values), torch.tensor(found.values), rtol=1e-3, atol=1e-5)
    assert same and again.flagged == found.flagged, "the same seed gave another scan"
    scan(True)  # train mode must be restored too
    changed = _state_changes(model, weights)
    assert not changed, f"the scanner changed the model's parameters ({', '.join(changed[:3])})"


def _check_detector(
    factory: Callable[..., Any],
    params: dict[str, Any],
    seed: int,
    data: DataBundle | None,
    build: Callable[..., nn.Module] | None,
) -> None:
    from toolkit.outputs import Outputs

    lacks = [m for m in ("fit", "score") if not callable(getattr(factory, m, None))]
    assert not lacks, (
        f"a detector needs fit(model, train) and score(model, outputs); it lacks {', '.join(lacks)}"
    )
    bundle, model = _setup(data, "tabular", seed, build)
    weights = _state(model)

    def scores(mode: bool) -> torch.Tensor:
        torch.manual_seed(seed)
        train = Outputs(model, bundle.train.x, y=bundle.train.y)
        test = Outputs(model, bundle.test.x, y=bundle.test.y)
        x_before, logits_before = _clone(test.x), test.logits.clone()
        model.train(mode)
        detector = factory(**params)
        fitted = detector.fit(model, train)
        assert fitted is detector, "fit() must return the detector itself"
        s = detector.score(model, test)
        assert model.training is mode, (
            f"the detector left a model that was in {_mode(mode)} mode in {_mode(model.training)} mode"
        )
        assert _same(test.x, x_before), "the detector changed the inputs"
        assert torch.equal(test.logits, logits_before), "the detector changed the shared logits"
        return s

    s = scores(False)
    n = len(bundle.test)
    assert isinstance(s, torch.Tensor), f"score() returned {type(s).__name__}, not a tensor"
    assert s.shape == (n,), f"scores of shape {tuple(s.shape)}, expected ({n},)"
    assert s.is_floating_point(), f"scores must be floating point, got {s.dtype}"
    assert bool(torch.isfinite(s).all()), "scores must be finite"
    assert torch.equal(s, scores(False)), "the same seed gave different scores"
    scores(True)  # train mode must be restored too
    changed = _state_changes(model, weights)
    assert not changed, f"the detector changed the model's parameters ({', '.join(changed[:3])})"
