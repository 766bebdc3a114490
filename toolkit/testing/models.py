"""The conformance check of models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle, DataInfo
from toolkit.data.inputs import Inputs, num_samples, take, to_model_input
from toolkit.errors import UsageError
from toolkit.testing._common import (
    _about,
    _bundle,
    _clone,
    _modalities,
    _same,
)

# --------------------------------------------------------------------------- models


def check_model(
    build: Callable[..., nn.Module],
    *,
    params: Mapping[str, Any] | None = None,
    info: DataInfo | None = None,
    data: DataBundle | None = None,
    seed: int = 0,
) -> None:
    """Check a model component's ``build(info, **params)``.

    On ``data`` (needed for multi-part inputs: the example inputs are its test samples),
    else on random inputs of ``info``'s shape, else on synthetic images or, if the model
    refuses them with a :class:`~toolkit.errors.UsageError`, synthetic features, or (when it
    declares ``modalities`` with text) the tiny text data of :mod:`toolkit.testing.text`. A
    text model with a ``checkpoint`` parameter is checked on the data's own checkpoint.
    """
    with _about(build, "model"):
        _check_model(build, dict(params or {}), info, data, seed)


def _check_model(
    build: Callable[..., nn.Module],
    params: dict[str, Any],
    info: DataInfo | None,
    data: DataBundle | None,
    seed: int,
) -> None:
    info, x = _model_data(build, params, info, data, seed)
    params = with_checkpoint(build, info, params)
    n = num_samples(x)
    torch.manual_seed(seed)
    model = build(info, **params)
    assert isinstance(model, nn.Module), f"build() returned {type(model).__name__}, not a torch.nn.Module"
    torch.manual_seed(seed)
    twin = build(info, **params)
    ours, theirs = model.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs), "the same parameters gave models with different state_dict keys"
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), f"the same seed gave different initial weights ({k})"
    before = _clone(x)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert isinstance(logits, torch.Tensor), (
        f"the model returned {type(logits).__name__}, not a tensor of logits"
    )
    assert logits.shape == (n, info.num_classes), (
        f"logits of shape {tuple(logits.shape)}, expected ({n}, {info.num_classes})"
    )
    assert logits.is_floating_point(), f"logits must be floating point, got {logits.dtype}"
    assert bool(torch.isfinite(logits).all()), "the logits of a fresh model are not finite"
    assert _same(x, before), "the model changed its input"
    _check_features(model, x, logits)
    assert _same(x, before), "the model changed its input"


def with_checkpoint(
    build: Callable[..., nn.Module], info: DataInfo, params: dict[str, Any]
) -> dict[str, Any]:
    """``params`` with ``checkpoint`` set to the text data's tokenizer checkpoint, for a text
    model that takes a ``checkpoint`` the parameters do not name (a text model is checked
    with the checkpoint its example data were tokenized by)."""
    import inspect

    if info.modality != "text" or info.tokenizer is None or "checkpoint" in params:
        return params
    try:
        takes = "checkpoint" in inspect.signature(build).parameters
    except (TypeError, ValueError):
        return params
    return {**params, "checkpoint": info.tokenizer} if takes else params


def _model_data(
    build: Callable[..., nn.Module],
    params: dict[str, Any],
    info: DataInfo | None,
    data: DataBundle | None,
    seed: int,
) -> tuple[DataInfo, Inputs]:
    """The data description and a batch of 8 model inputs the model is checked on."""
    if data is not None:
        return data.info, to_model_input(take(data.test.x, slice(0, 8)))
    if info is not None:
        assert not isinstance(info.input_shape, Mapping), (
            "the data has multi-part inputs: give the check example data (check_model(build, data=bundle))"
        )
        return info, torch.rand(8, *info.input_shape)
    for modality in _modalities(build, ("image", "tabular"), text=True):
        candidate = _bundle(seed, modality=modality)
        try:
            build(candidate.info, **with_checkpoint(build, candidate.info, params))
        except UsageError:
            continue
        return candidate.info, to_model_input(take(candidate.test.x, slice(0, 8)))
    raise AssertionError(
        "the model accepts neither image nor tabular data (it raised UsageError for both); "
        "give it example data: check_model(build, data=bundle) or an example_data attribute"
    )


def _check_features(model: nn.Module, x: Inputs, logits: torch.Tensor) -> None:
    """``forward_features`` gives ``(N, F)`` and ``head`` of it gives the logits, if exposed."""
    n = num_samples(x)
    if hasattr(model, "forward_features"):
        with torch.no_grad():
            feats = model.forward_features(x)  # type: ignore[operator]
        assert isinstance(feats, torch.Tensor) and feats.dim() == 2 and feats.shape[0] == n, (
            f"forward_features must give (N, F), got {tuple(getattr(feats, 'shape', ()))}"
        )
        if hasattr(model, "head"):
            with torch.no_grad():
                again = model.head(feats)  # type: ignore[operator]
            assert torch.allclose(again, logits, atol=1e-5, rtol=1e-4), (
                "head(forward_features(x)) differs from model(x): detectors read the logits as "
                "head(forward_features(x)), so both must agree"
            )
