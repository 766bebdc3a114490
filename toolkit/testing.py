"""Conformance checks that every component of a kind must pass, built-in or plugin.

Each ``check_*`` function raises :class:`AssertionError` with a readable message on the
first violation. The toolkit's own test suite runs them over every registered name
(plugins included); a plugin's tests call them on its own components::

    from toolkit.testing import check_detector
    from my_plugin.detector import MyDetector

    def test_conformance():
        check_detector(MyDetector, params={"k": 5})

What is checked:

- datasets: splits of matching length, ``uint8`` ``(N, C, H, W)`` images or ``float32``
  ``(N, D)`` features, ``int64`` labels in ``0..K-1``, ``info`` consistent with the data,
  the same data for the same seed.
- models: logits of shape ``(N, num_classes)``, features of shape ``(N, F)`` if exposed,
  the same weights for the same seed, the input left unchanged.
- detectors: float scores of shape ``(N,)``, finite, the same for the same seed, inputs,
  logits and model parameters unchanged, the model's train/eval mode restored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataBundle, DataInfo
from toolkit.data.inputs import to_model_input
from toolkit.errors import UsageError


def _bundle(seed: int = 0, *, modality: str = "tabular") -> DataBundle:
    from toolkit.data.synthetic import load

    return load(seed, n_classes=4, n_per_class=40, modality=modality, holdout=["c3"])  # type: ignore[arg-type]


def _trained_model(bundle: DataBundle, seed: int = 0) -> nn.Module:
    from toolkit.models.mlp import build
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    torch.manual_seed(seed)
    model = build(bundle.info, hidden=[16])
    train(model, bundle.train, TrainConfig(epochs=3, lr=0.1, batch_size=32), seed=seed)
    return model


def check_dataset(
    load: Callable[..., DataBundle], *, params: Mapping[str, Any] | None = None, seed: int = 0
) -> None:
    """Check a dataset component's ``load(seed, **params)``."""
    params = dict(params or {})
    bundle = load(seed, **params)
    assert isinstance(bundle, DataBundle), f"load() returned {type(bundle).__name__}, not DataBundle"
    info = bundle.info
    assert isinstance(info, DataInfo)
    assert info.num_classes >= 2, "a dataset needs at least two classes"
    splits = {"train": bundle.train, "test": bundle.test}
    if bundle.ood is not None:
        splits["ood"] = bundle.ood
    for name, split in splits.items():
        assert len(split) > 0, f"the {name} split is empty"
        assert split.x.shape[0] == split.y.shape[0], f"{name}: x and y differ in length"
        assert split.y.dtype == torch.int64 and split.y.dim() == 1, f"{name}: labels must be int64 (N,)"
        assert tuple(split.x.shape[1:]) == tuple(info.input_shape), (
            f"{name}: inputs of shape {tuple(split.x.shape[1:])}, info says {info.input_shape}"
        )
        for key, col in split.groups.items():
            assert col.shape[0] == len(split), f"{name}: group column {key!r} has the wrong length"
        if info.modality == "image":
            assert split.x.dtype == torch.uint8 and split.x.dim() == 4, (
                f"{name}: images must be uint8 (N, C, H, W)"
            )
        elif info.modality == "tabular":
            assert split.x.dtype == torch.float32 and split.x.dim() == 2, (
                f"{name}: features must be float32 (N, D)"
            )
    for name in ("train", "test"):
        y = splits[name].y
        assert int(y.min()) >= 0 and int(y.max()) < info.num_classes, f"{name}: labels outside 0..K-1"
    again = load(seed, **params)
    assert torch.equal(again.train.x, bundle.train.x) and torch.equal(again.test.y, bundle.test.y), (
        "the same seed gave different data"
    )


def check_model(
    build: Callable[..., nn.Module], *, params: Mapping[str, Any] | None = None, info: DataInfo | None = None
) -> None:
    """Check a model component's ``build(info, **params)`` on synthetic images, else features."""
    params = dict(params or {})
    bundle = None
    if info is None:
        for modality in ("image", "tabular"):
            candidate = _bundle(modality=modality)
            try:
                build(candidate.info, **params)
            except UsageError:
                continue
            bundle, info = candidate, candidate.info
            break
        assert info is not None, "the model accepts neither image nor tabular data"
    torch.manual_seed(0)
    model = build(info, **params)
    torch.manual_seed(0)
    twin = build(info, **params)
    for (k, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items(), strict=True):
        assert torch.equal(a, b), f"the same seed gave different initial weights ({k})"
    x = to_model_input(bundle.test.x[:8]) if bundle is not None else torch.rand(8, *info.input_shape)
    before = x.clone()
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (x.shape[0], info.num_classes), f"logits of shape {tuple(logits.shape)}"
    assert logits.is_floating_point()
    assert torch.equal(x, before), "the model changed its input"
    if hasattr(model, "forward_features"):
        with torch.no_grad():
            feats = model.forward_features(x)  # type: ignore[operator]
        assert feats.dim() == 2 and feats.shape[0] == x.shape[0], "forward_features must give (N, F)"


def check_detector(
    factory: Callable[..., Any], *, params: Mapping[str, Any] | None = None, seed: int = 0
) -> None:
    """Check a detector: ``factory(**params).fit(model, train)`` then ``.score(model, x)``."""
    from toolkit.outputs import Outputs

    params = dict(params or {})
    bundle = _bundle(seed)
    model = _trained_model(bundle, seed)
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    def scores(mode: bool) -> torch.Tensor:
        torch.manual_seed(seed)
        train = Outputs(model, bundle.train.x, y=bundle.train.y)
        test = Outputs(model, bundle.test.x, y=bundle.test.y)
        x_before, logits_before = test.x.clone(), test.logits.clone()
        model.train(mode)
        detector = factory(**params)
        fitted = detector.fit(model, train)
        assert fitted is detector, "fit() must return the detector itself"
        s = detector.score(model, test)
        assert model.training is mode, (
            f"the detector left the model in {'train' if model.training else 'eval'} mode"
        )
        assert torch.equal(test.x, x_before), "the detector changed the inputs"
        assert torch.equal(test.logits, logits_before), "the detector changed the shared logits"
        return s

    s = scores(False)
    assert isinstance(s, torch.Tensor), f"score() returned {type(s).__name__}, not a tensor"
    assert s.shape == (len(bundle.test),), f"scores of shape {tuple(s.shape)}, expected ({len(bundle.test)},)"
    assert s.is_floating_point(), "scores must be floating point"
    assert bool(torch.isfinite(s).all()), "scores must be finite"
    assert torch.equal(s, scores(False)), "the same seed gave different scores"
    scores(True)  # train mode must be restored too
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), f"the detector changed the model's parameters ({k})"


CHECKS: dict[str, Callable[..., None]] = {
    "datasets": check_dataset,
    "models": check_model,
    "detectors": check_detector,
}


def check_component(kind: str, name: str, *, params: Mapping[str, Any] | None = None) -> None:
    """Run the conformance check of ``kind`` on the registered component ``name``."""
    from toolkit.registry import registry

    reg = registry(kind)
    check = CHECKS.get(reg.kind)
    if check is None:
        raise NotImplementedError(f"no conformance check for {reg.kind} yet")
    factory = reg.load(name)
    if params is None:  # a component with required parameters names an example set of them
        params = getattr(factory, "example_params", None)
    check(factory, params=params)
