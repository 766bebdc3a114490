"""Adversarial debiasing on a small synthetic data set with a planted bias."""

from __future__ import annotations

import pytest
import torch

from toolkit.data.base import DataBundle, DataInfo, Split
from toolkit.defenses.adversarial_debiasing import AdversarialDebiasing, balanced_weights
from toolkit.errors import UsageError
from toolkit.metrics.fairness import p_rule
from toolkit.models.mlp import build
from toolkit.recipe import TrainConfig
from toolkit.training import train


def biased(seed: int, n: int = 3000) -> DataBundle:
    """The label depends on a sensitive attribute ``z``, and one feature is a proxy for ``z``."""
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(n, generator=g) < 0.5).long()
    proxy = z.float() + 0.3 * torch.randn(n, generator=g)
    skill = torch.randn(n, generator=g)
    other = torch.randn(n, 3, generator=g)
    y = ((skill + 1.5 * z.float() + 0.3 * torch.randn(n, generator=g)) > 0.75).long()
    x = torch.cat([proxy[:, None], skill[:, None], other], dim=1)
    cut = int(0.7 * n)

    def split(a: int, b: int) -> Split:
        return Split(x[a:b], y[a:b], {"z": z[a:b]})

    info = DataInfo("biased", "tabular", (x.shape[1],), ["no", "yes"], sensitive={"z": ("z0", "z1")})
    return DataBundle(split(0, cut), split(cut, n), info)


def rule(model: torch.nn.Module, data: DataBundle) -> float:
    with torch.no_grad():
        pred = model(data.test.x).argmax(1).numpy()
    return p_rule(pred, data.test.groups["z"].numpy())


def test_debiasing_lowers_the_p_rule_gap() -> None:
    data = biased(0)
    torch.manual_seed(0)
    model = build(data.info, hidden=[16, 16])
    train(model, data.train, TrainConfig(epochs=5, batch_size=32, optimizer="adam", lr=0.003), seed=0)
    before = rule(model, data)
    assert before < 50  # the planted bias is learned
    defense = AdversarialDebiasing(lambdas={"z": 50.0}, iterations=60, pretrain_epochs=2, lr=0.003)
    history = defense.train(model, data, seed=0)
    after = rule(model, data)
    # seen: 38.6 -> 59.5 (torch 2.14, CPU) and 58.5 (torch 2.11); seeds 1 and 2 gain 39 and 31
    assert after > before + 15
    with torch.no_grad():
        accuracy = float((model(data.test.x).argmax(1) == data.test.y).float().mean())
    assert accuracy > 0.7  # fairer, not constant
    assert len(history) == 61 and history[0]["iteration"] == 0
    assert history[-1]["p_rule_z"] == pytest.approx(after)
    assert not model.training


def test_same_seed_same_result() -> None:
    data = biased(1, n=800)
    finals = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build(data.info, hidden=[8])
        AdversarialDebiasing(lambdas={"z": 10.0}, iterations=5, pretrain_epochs=1).train(model, data, seed=3)
        finals.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(finals[0], finals[1])


def test_equalized_odds_variant_runs() -> None:
    data = biased(2, n=600)
    model = build(data.info, hidden=[8])
    defense = AdversarialDebiasing(lambdas={"z": 5.0}, iterations=3, equalized_odds=True, balance=True)
    seen: list[int] = []
    original = torch.nn.Linear.forward

    def spy(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
        seen.append(self.in_features)
        return original(self, x)

    torch.nn.Linear.forward = spy  # type: ignore[method-assign]
    try:
        history = defense.train(model, data, seed=0)
    finally:
        torch.nn.Linear.forward = original  # type: ignore[method-assign]
    assert len(history) == 4
    assert 2 in seen  # the adversary's first layer takes (probability, label)


def test_lambdas_must_match_the_attributes() -> None:
    data = biased(0, n=200)
    model = build(data.info)
    with pytest.raises(UsageError, match=r"missing \['z'\].*unknown \['race'\]"):
        AdversarialDebiasing(lambdas={"race": 1.0}).train(model, data, seed=0)
    plain = DataBundle(data.train, data.test, DataInfo("plain", "tabular", (5,), ["a", "b"]))
    with pytest.raises(UsageError, match="sensitive attributes"):
        AdversarialDebiasing().train(model, plain, seed=0)


def test_balanced_weights() -> None:
    z = torch.tensor([[1, 0], [0, 0], [0, 0], [0, 1]])
    w = balanced_weights(z)
    # attribute 0: one 1 among 4 -> weight 4/(2*1)=2 for it, 4/(2*3) for the zeros
    assert w[:, 0].tolist() == pytest.approx([2.0, 2 / 3, 2 / 3, 2 / 3])
    assert (w * 1).sum(0).tolist() == pytest.approx([4.0, 4.0])
