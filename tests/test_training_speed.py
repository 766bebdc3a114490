"""The training loop's fast paths (train.amp, train.channels_last, train.compile): each
trains the same model within tolerance of the plain loop, and each enters the training
fingerprint. Their speed is measured in benchmarks/training.py, not asserted here."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from toolkit.data.digits import load
from toolkit.models.small_cnn import build
from toolkit.recipe import TrainConfig, parse_recipe
from toolkit.training import speed, train
from toolkit.training.speed import precision_for


def trained(**fast: Any) -> tuple[torch.nn.Module, list[dict[str, float]], Any]:
    data = load(0)
    torch.manual_seed(0)
    model = build(data.info, channels=[8, 16], hidden=32)
    config = TrainConfig(epochs=3, batch_size=64, optimizer="adam", lr=0.003, **fast)
    history = train(model, data.train, config, seed=0, test=data.test, info=data.info)
    return model, history, data


@pytest.fixture(scope="module")
def plain() -> tuple[torch.nn.Module, list[dict[str, float]], Any]:
    return trained()


def agreement(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x).argmax(1) == b(x).argmax(1)).float().mean())


def inputs(data: Any) -> torch.Tensor:
    return data.test.x.float() / 255


def test_channels_last_trains_the_same_model(plain: Any) -> None:
    model, history, data = trained(channels_last=True)
    base, base_history, _ = plain
    for (name, p), q in zip(model.state_dict().items(), base.state_dict().values(), strict=True):
        assert p.is_contiguous(), f"{name} is stored channels-last"  # the stored model is plain
        assert torch.allclose(p, q, atol=1e-3, rtol=1e-2), name  # other convolution kernels: rounding
    assert history[-1]["test_accuracy"] == pytest.approx(base_history[-1]["test_accuracy"], abs=0.005)
    assert agreement(model, base, inputs(data)) > 0.99


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_a_model_within_tolerance(plain: Any, amp: str) -> None:
    model, history, data = trained(amp=amp)
    base, base_history, _ = plain
    # lower precision changes the path, not the destination: the same accuracy within two
    # points and the same prediction for nearly every test image
    assert history[-1]["test_accuracy"] == pytest.approx(base_history[-1]["test_accuracy"], abs=0.02)
    assert agreement(model, base, inputs(data)) > 0.95
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32


def test_fp16_scales_the_loss_and_the_update_stays_finite() -> None:
    precision = precision_for("fp16", "cpu")
    assert precision.scaler is not None and precision.dtype == torch.float16
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    with precision.autocast():
        loss = torch.nn.functional.cross_entropy(model(torch.randn(8, 4)), torch.zeros(8, dtype=torch.long))
    precision.backward(loss)
    assert model.weight.grad is not None
    precision.step(optimizer, model.parameters(), clip_norm=1.0)
    assert torch.isfinite(model.weight).all() and not torch.equal(model.weight, before)


def test_auto_precision_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    assert precision_for("off", "cpu").dtype is None
    for native, dtype in ((True, torch.bfloat16), (False, None)):  # a CPU with or without native bf16
        monkeypatch.setattr(speed, "native_bf16", lambda native=native: native)
        assert precision_for("auto", "cpu").dtype == dtype
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert precision_for("auto", "cuda").dtype == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nothing():
        chosen = precision_for("auto", "cuda")
    assert chosen.dtype == torch.float16 and chosen.scaler is not None


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_each_fast_path_enters_the_training_fingerprint() -> None:
    base = {"task": "ood", "name": "x", "dataset": {"name": "digits", "holdout": ["9"]},
            "model": {"name": "small_cnn"}, "detectors": [{"name": "msp"}]}  # fmt: skip
    plain = parse_recipe(base).fingerprints()
    for override in ("train.amp='bf16'", "train.channels_last=true", "train.compile=true"):
        other = parse_recipe(base, [override]).fingerprints()
        assert other["data"] == plain["data"] and other["train"] != plain["train"], override


@pytest.mark.slow
def test_compile_trains_the_same_model(plain: Any) -> None:
    model, history, data = trained(compile=True)
    base, base_history, _ = plain
    for p, q in zip(model.state_dict().values(), base.state_dict().values(), strict=True):
        assert torch.allclose(p, q, atol=1e-3, rtol=1e-2)  # fused kernels: other rounding
    assert history[-1]["test_accuracy"] == pytest.approx(base_history[-1]["test_accuracy"], abs=0.005)
    assert agreement(model, base, inputs(data)) > 0.99


def test_a_forward_pass_that_cannot_compile_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(module: torch.nn.Module) -> Any:
        def call(*args: Any) -> Any:
            raise RuntimeError("no C++ compiler")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    net = torch.nn.Linear(3, 2)
    wrapped = speed.compiled(net)
    x = torch.randn(4, 3)
    with pytest.warns(RuntimeWarning, match="train.compile: torch.compile failed .*no C\\+\\+ compiler"):
        out = wrapped(x)
    assert torch.equal(out, net(x)) and list(wrapped.parameters()) == list(net.parameters())
