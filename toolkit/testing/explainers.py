"""The conformance check of explainers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle
from toolkit.data.inputs import take, to_model_input
from toolkit.testing._common import (
    _about,
    _clone,
    _fit,
    _grads,
    _grads_changed,
    _modalities,
    _mode,
    _same,
    _setup,
    _state,
    _state_changes,
    _tensor,
)

# --------------------------------------------------------------------------- explainers


def check_explainer(
    factory: Callable[..., Any],
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    data: DataBundle | None = None,
) -> None:
    """Check an explainer's ``explain(model, inputs, targets)`` on synthetic images (with a
    small CNN) and, unless it declares ``modalities = ("image",)``, synthetic features; or
    on ``data``."""
    with _about(factory, "explainer"):
        params = dict(params or {})
        if data is not None:
            cases = [(data, _fit(data, seed))]
        else:
            wanted = _modalities(factory, ("image", "tabular"), text=True)
            assert wanted, (
                f"it declares modalities {getattr(factory, 'modalities', None)}: give it example data "
                "(check_explainer(cls, data=bundle) or an example_data attribute)"
            )
            cases = [_setup(None, m, seed) for m in wanted]
        for bundle, model in cases:
            _check_explainer_on(factory, params, bundle, model)


def _check_explainer_on(
    factory: Callable[..., Any], params: dict[str, Any], bundle: DataBundle, model: nn.Module
) -> None:
    info = bundle.info
    where = f"on {info.name} ({info.modality})"
    raw = to_model_input(take(bundle.test.x, slice(0, 8)))
    inputs: Any = (
        {k: v.clone() for k, v in raw.items()} if isinstance(raw, Mapping) else _tensor(raw, "").clone()
    )
    targets = bundle.test.y[:8].clone()
    shape = tuple((inputs["input_ids"] if isinstance(inputs, Mapping) else inputs).shape)
    n = shape[0]
    allowed = [shape]  # token inputs: one attribution per token, (N, L)
    if len(shape) == 4 and shape[1] != 1:
        allowed.append((n, 1, *shape[2:]))
    state, grads = _state(model), _grads(model)
    before = _clone(inputs)
    maps = {}
    for training in (False, True):
        model.train(training)
        out = factory(**params).explain(model, inputs, targets)
        assert isinstance(out, torch.Tensor), (
            f"{where}: explain() returned {type(out).__name__}, not a tensor"
        )
        assert tuple(out.shape) in allowed, (
            f"{where}: attributions of shape {tuple(out.shape)}, expected "
            + " or ".join(str(s) for s in allowed)
        )
        assert out.is_floating_point(), f"{where}: attributions must be floating point, got {out.dtype}"
        assert bool(torch.isfinite(out).all()), f"{where}: the attributions are not finite"
        assert model.training is training, (
            f"{where}: explain() left a model that was in {_mode(training)} mode "
            f"in {_mode(model.training)} mode"
        )
        changed = _state_changes(model, state)
        assert not changed, (
            f"{where}: explain() changed the model's weights or buffers ({', '.join(changed[:3])})"
        )
        assert not _grads_changed(model, grads), f"{where}: explain() left gradients on the model's weights"
        assert _same(inputs, before), f"{where}: explain() changed its inputs in place"
        maps[training] = out
    model.eval()
    again = factory(**params).explain(model, inputs, targets)
    assert torch.allclose(again, maps[False], rtol=1e-5, atol=1e-7), (
        f"{where}: a second call gave different attributions (seed the explainer's randomness)"
    )
