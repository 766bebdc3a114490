"""The conformance checks of attacks: evasion and poisoning."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle, DataInfo
from toolkit.data.inputs import num_samples, sample_shape, take, to_model_input
from toolkit.errors import UsageError
from toolkit.kinds import KINDS
from toolkit.testing._common import (
    _about,
    _assert_split,
    _bundle,
    _changed,
    _clone,
    _dtypes,
    _fit,
    _grads,
    _grads_changed,
    _modalities,
    _mode,
    _same,
    _setup,
    _snapshot,
    _state,
    _state_changes,
    _tensor,
)

# --------------------------------------------------------------------------- attacks


def check_attack(
    factory: Callable[..., Any],
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    data: DataBundle | None = None,
) -> None:
    """Check an attack: its family decides how (evasion or poisoning).

    Evasion attacks are checked on synthetic images (domain ``[0, 1]``) and on tabular data
    with per-feature bounds (each where the attack's ``modalities`` include it), or on
    ``data``; poisoning attacks on synthetic images and features, or on ``data``.
    """
    from toolkit.protocols import ProtocolMismatch, family_of

    with _about(factory, "attack"):
        try:
            family = family_of(KINDS["attacks"], factory)
        except ProtocolMismatch as exc:
            raise AssertionError(f"it is no attack of a known family: {exc}") from None
        if family == "evasion":
            _check_evasion(factory, dict(params or {}), seed, data)
        else:
            _check_poisoning(factory, dict(params or {}), seed, data)


def _check_evasion(
    factory: Callable[..., Any], params: dict[str, Any], seed: int, data: DataBundle | None
) -> None:
    from toolkit.protocols import bind

    for bundle, model in _evasion_cases(factory, seed, data):
        info = bundle.info
        where = f"on {info.name} ({info.modality}, input domain {info.input_domain.describe()})"
        x = _tensor(to_model_input(take(bundle.test.x, slice(0, 16))), f"{where}: evasion attacks").clone()
        y = bundle.test.y[:16].clone()

        def attack(p: Mapping[str, Any], *, info: DataInfo = info) -> Any:
            return bind(factory(**p), info)

        try:
            first = attack(params)
        except UsageError:  # the attack may refuse data other than images when it is bound
            if data is not None or info.modality == "image":
                raise
            continue
        state, grads = _state(model), _grads(model)
        x_before = x.clone()
        outputs = {}
        for training in (False, True):
            model.train(training)
            adv = (first if not training else attack(params))(model, x, y)
            _check_adversarial(where, adv, x, info, model, training)
            changed = _state_changes(model, state)
            assert not changed, (
                f"{where}: the attack changed the model's weights or buffers ({', '.join(changed[:3])})"
            )
            assert not _grads_changed(model, grads), (
                f"{where}: the attack changed the gradients of the model's weights"
            )
            assert torch.equal(x, x_before), f"{where}: the attack changed its input x in place"
            outputs[training] = adv
        model.eval()
        again = attack(params)(model, x, y)
        assert torch.allclose(again, outputs[False], rtol=0, atol=1e-6), (
            f"{where}: the same parameters gave different adversarial examples (seed the attack's randomness)"
        )
        if getattr(factory, "budget", None) is not None:
            zero = attack(factory.with_budget(params, 0.0))(model, x, y)  # type: ignore[attr-defined]
            assert (zero - x).abs().max() <= 1e-6, (
                f"{where}: with its budget ({factory.budget}) set to 0 the attack still moves the inputs "  # type: ignore[attr-defined]
                f"(by up to {float((zero - x).abs().max()):.3g})"
            )
        model.eval()


def _evasion_cases(
    factory: Callable[..., Any], seed: int, data: DataBundle | None
) -> list[tuple[DataBundle, nn.Module]]:
    """The data and trained models an evasion attack is checked on: the given data, else
    images and bounded tabular data (those of its declared modalities)."""
    if data is not None:
        return [(data, _fit(data, seed))]
    wanted = _modalities(factory, ("image", "tabular"))
    assert wanted, (
        f"it declares modalities {getattr(factory, 'modalities', None)}: give it example data "
        "(check_attack(cls, data=bundle) or an example_data attribute)"
    )
    names = {"image": "image", "tabular": "bounded"}
    return [_setup(None, names[m], seed) for m in wanted]


def _check_adversarial(
    where: str, adv: Any, x: torch.Tensor, info: DataInfo, model: nn.Module, training: bool
) -> None:
    """One batch of adversarial examples: a finite tensor like ``x``, inside the domain,
    and the model still in the mode it was in."""
    mode = _mode(training)
    assert isinstance(adv, torch.Tensor), f"{where}: the attack returned {type(adv).__name__}, not a tensor"
    assert adv.shape == x.shape, (
        f"{where}: adversarial examples of shape {tuple(adv.shape)}, inputs {tuple(x.shape)}"
    )
    assert adv.dtype == x.dtype, f"{where}: adversarial examples of dtype {adv.dtype}, inputs {x.dtype}"
    assert bool(torch.isfinite(adv).all()), f"{where}: the adversarial examples are not finite"
    assert info.input_domain.contains(adv), (
        f"{where}: the adversarial examples leave the input domain by up to "
        f"{float((info.input_domain.clamp(adv) - adv).abs().max()):.3g} "
        "(clamp them with self.domain.clamp, which bind(info) sets)"
    )
    assert model.training is training, (
        f"{where}: the attack left a model that was in {mode} mode in {_mode(model.training)} mode"
    )


def _check_poisoned_index(where: str, out: DataBundle) -> None:
    """``extras["poisoned"]``, when given, is an int64 tensor of training-sample indices."""
    poisoned = out.extras.get("poisoned")
    if poisoned is None:
        return
    assert isinstance(poisoned, torch.Tensor) and poisoned.dtype == torch.int64 and poisoned.dim() == 1, (
        f"{where}: extras['poisoned'] must be an int64 tensor of training-sample indices"
    )
    if poisoned.numel():
        assert int(poisoned.min()) >= 0 and int(poisoned.max()) < len(out.train), (
            f"{where}: extras['poisoned'] holds indices outside the poisoned train split"
        )


def _check_poisoning(
    factory: Callable[..., Any], params: dict[str, Any], seed: int, data: DataBundle | None
) -> None:
    from toolkit.protocols import bind

    if data is not None:
        bundles = [data]
    else:
        wanted = _modalities(factory, ("image", "tabular"))
        assert wanted, (
            f"it declares modalities {getattr(factory, 'modalities', None)}: give it example data "
            "(check_attack(cls, data=bundle) or an example_data attribute)"
        )
        bundles = [_bundle(seed, modality=m) for m in wanted]
    for bundle in bundles:
        where = f"on {bundle.info.name} ({bundle.info.modality})"
        snapshot = _snapshot(bundle)
        attack = bind(factory(**params), bundle.info)
        out = attack.poison(bundle, torch.Generator().manual_seed(seed))
        assert isinstance(out, DataBundle), (
            f"{where}: poison() returned {type(out).__name__}, not a DataBundle"
        )
        changed = _changed(bundle, snapshot)
        assert not changed, (
            f"{where}: poison() changed the bundle it was given ({', '.join(changed[:4])}); "
            "return a new bundle with new tensors"
        )
        _assert_split(
            out.train, f"{where}: the poisoned train split", bundle.info, shape=sample_shape(bundle.train.x)
        )
        assert len(out.train) > 0, f"{where}: the poisoned train split is empty"
        assert _dtypes(out.train.x) == _dtypes(bundle.train.x), (
            f"{where}: poisoning changed the dtype of the training inputs "
            f"({_dtypes(bundle.train.x)} -> {_dtypes(out.train.x)})"
        )
        assert _same(out.test.x, bundle.test.x) and torch.equal(out.test.y, bundle.test.y), (
            f"{where}: poison() changed the test split; it may only change the training data"
        )
        _check_poisoned_index(where, out)
        twin = bind(factory(**params), bundle.info).poison(bundle, torch.Generator().manual_seed(seed))
        assert _same(twin.train.x, out.train.x) and torch.equal(twin.train.y, out.train.y), (
            f"{where}: the same seed gave different poisoned data (draw from the rng poison() is given)"
        )
        x = take(bundle.test.x, slice(0, 8))
        before = _clone(x)
        triggered = attack.trigger(x)
        assert _same(x, before), f"{where}: trigger() changed its input in place"
        assert sample_shape(triggered) == sample_shape(x) and num_samples(triggered) == num_samples(x), (
            f"{where}: trigger() gave inputs of shape {sample_shape(triggered)}, not {sample_shape(x)}"
        )
        assert _dtypes(triggered) == _dtypes(x), (
            f"{where}: trigger() changed the dtype of the inputs ({_dtypes(x)} -> {_dtypes(triggered)})"
        )
