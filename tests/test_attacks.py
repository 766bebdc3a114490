"""Evasion attacks: budget, box, loss, model untouched, determinism, reference agreement."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import needs

from toolkit.attacks.fgsm import FGSM
from toolkit.attacks.pgd import PGD
from toolkit.data.inputs import to_model_input as to_input
from toolkit.data.synthetic import load
from toolkit.errors import UsageError
from toolkit.models.small_cnn import build
from toolkit.recipe import TrainConfig
from toolkit.training import train


@pytest.fixture(scope="module")
def setting() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    data = load(0, modality="image", image_size=8, n_per_class=60)
    torch.manual_seed(0)
    model = build(data.info, channels=[8, 16], hidden=32)
    train(model, data.train, TrainConfig(epochs=3, lr=0.05, batch_size=32), seed=0)
    return model.eval(), to_input(data.test.x[:48]), data.test.y[:48]


ATTACKS = [
    ("fgsm", lambda: FGSM(eps=8 / 255), 8 / 255, "linf"),
    ("pgd", lambda: PGD(eps=8 / 255, steps=5), 8 / 255, "linf"),
    ("pgd_l2", lambda: PGD(eps=0.5, steps=5, norm="l2"), 0.5, "l2"),
    ("pgd_targeted", lambda: PGD(eps=8 / 255, steps=5, target="next"), 8 / 255, "linf"),
]


@pytest.mark.parametrize(("name", "make", "eps", "norm"), ATTACKS)
def test_budget_box_mode_and_parameters(
    setting: tuple, name: str, make: object, eps: float, norm: str
) -> None:
    model, x, y = setting
    model.zero_grad(set_to_none=True)
    model.train()  # the attack must run in eval mode and put train mode back
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    x_before = x.clone()
    adv = make()(model, x, y)  # type: ignore[operator]
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), f"{name} changed {k} (batch-norm statistics included)"
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(x, x_before)
    assert adv.shape == x.shape and float(adv.min()) >= 0 and float(adv.max()) <= 1
    delta = (adv - x).flatten(1)
    size = delta.abs().max(dim=1).values if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-6
    model.eval()


@pytest.mark.parametrize(("name", "make", "eps", "norm"), ATTACKS[:3])
def test_attacks_increase_the_loss(setting: tuple, name: str, make: object, eps: float, norm: str) -> None:
    model, x, y = setting
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y)
        attacked = F.cross_entropy(model(make()(model, x, y)), y)  # type: ignore[operator]
    assert attacked > clean


def test_targeted_attack_moves_toward_the_target(setting: tuple) -> None:
    model, x, y = setting
    target = (y + 1) % 4
    with torch.no_grad():
        before = F.cross_entropy(model(x), target)
        after = F.cross_entropy(model(PGD(eps=16 / 255, steps=10, target="next")(model, x, y)), target)
    assert after < before


def test_train_mode_attacks_leave_batch_norm_and_gradients_alone(setting: tuple) -> None:
    model, x, y = setting
    model.zero_grad(set_to_none=True)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    flags = [p.requires_grad for p in model.parameters()]
    model.train()
    PGD(eps=8 / 255, steps=3, eval_mode=False)(model, x, y)  # batch norm in training mode during the attack
    assert model.training
    for k, v in model.named_buffers():
        assert torch.equal(v, buffers[k]), k
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_each_call_draws_a_new_random_start(setting: tuple) -> None:
    model, x, y = setting
    attack = PGD(eps=8 / 255, steps=1, alpha=1e-9, seed=0)
    first, second = attack(model, x[:4], y[:4]), attack(model, x[:4], y[:4])
    assert not torch.equal(first, second)
    assert torch.equal(first, PGD(eps=8 / 255, steps=1, alpha=1e-9, seed=0)(model, x[:4], y[:4]))


def test_adapters_keep_the_callers_random_state(setting: tuple) -> None:
    needs("torchattacks", "art")
    import numpy as np

    from toolkit.attacks.art_adapter import ART
    from toolkit.attacks.torchattacks_adapter import TorchAttacks

    model, x, y = setting
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    TorchAttacks(attack="PGD", params={"eps": 0.03, "steps": 2})(model, x[:4], y[:4])
    ART(attack="ProjectedGradientDescent", params={"eps": 0.03, "eps_step": 0.01, "max_iter": 2})(
        model, x[:4], y[:4]
    )
    assert torch.equal(torch.rand(1), expected_torch) and np.random.rand() == expected_np
    assert all(p.grad is None for p in model.parameters())  # ART's weight gradients are not left behind
    with pytest.raises(UsageError, match="targeted"):
        TorchAttacks(attack="PGD", params={"targeted": True})


def test_targeted_success_is_reaching_the_target(setting: tuple) -> None:
    from toolkit.baselines.attacks import attack_in_batches

    model, x, y = setting
    attack = PGD(eps=32 / 255, steps=10, target="next")
    x_adv, targets = attack_in_batches(attack, model, x, y, 16)
    assert targets is not None and torch.equal(targets, (y + 1) % 4)
    assert x_adv.shape == x.shape


def test_pgd_is_at_least_as_strong_as_fgsm_and_seeded(setting: tuple) -> None:
    model, x, y = setting
    with torch.no_grad():
        fgsm = (model(FGSM(eps=16 / 255)(model, x, y)).argmax(1) == y).float().mean()
        pgd = (model(PGD(eps=16 / 255, steps=20)(model, x, y)).argmax(1) == y).float().mean()
    assert pgd <= fgsm
    a, b = PGD(eps=8 / 255, seed=3)(model, x, y), PGD(eps=8 / 255, seed=3)(model, x, y)
    c = PGD(eps=8 / 255, seed=4)(model, x, y)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_fgsm_equals_torchattacks_and_art(setting: tuple) -> None:
    needs("torchattacks", "art")
    from toolkit.attacks.art_adapter import ART
    from toolkit.attacks.torchattacks_adapter import TorchAttacks

    model, x, y = setting
    ours = FGSM(eps=8 / 255)(model, x, y)
    assert torch.equal(ours, TorchAttacks(attack="FGSM", params={"eps": "8/255"})(model, x, y))
    assert torch.equal(ours, ART(attack="FastGradientMethod", params={"eps": "8/255"})(model, x, y))
    pgd = PGD(eps=8 / 255, alpha=2 / 255, steps=5, random_start=False)(model, x, y)
    ta = TorchAttacks(
        attack="PGD", params={"eps": 8 / 255, "alpha": 2 / 255, "steps": 5, "random_start": False}
    )
    assert torch.allclose(pgd, ta(model, x, y), atol=1e-6)


def test_unknown_reference_attacks_list_the_available_ones() -> None:
    needs("torchattacks", "art")
    from toolkit.attacks import art_adapter, torchattacks_adapter

    with pytest.raises(UsageError) as err:
        torchattacks_adapter.attack_class("PDG")
    assert "no attack 'PDG'" in str(err.value) and "PGD" in str(err.value) and "FGSM" in str(err.value)
    with pytest.raises(UsageError) as err:
        art_adapter.attack_class("FastGradient")
    assert "FastGradientMethod" in str(err.value) and "ProjectedGradientDescent" in str(err.value)


def test_adversarial_training_raises_robust_accuracy() -> None:
    from toolkit.defenses.adversarial_training import AdversarialTraining

    data = load(0, modality="image", image_size=8, n_per_class=80, separation=2.0)
    x, y = to_input(data.test.x), data.test.y
    attack = PGD(eps=32 / 255, steps=7)
    accuracies = []
    for defended in (False, True):
        torch.manual_seed(0)
        model = build(data.info, channels=[8, 16], hidden=32)
        hook = (
            AdversarialTraining(attack="pgd", params={"eps": "32/255", "steps": 5}).transform
            if defended
            else None
        )
        train(model, data.train, TrainConfig(epochs=8, lr=0.05, batch_size=32), seed=0, batch_hook=hook)
        with torch.no_grad():
            accuracies.append(float((model(attack(model, x, y)).argmax(1) == y).float().mean()))
    assert accuracies[1] > accuracies[0] + 0.1, accuracies


def test_adversarial_training_fraction() -> None:
    from toolkit.defenses.adversarial_training import AdversarialTraining

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x, y = torch.rand(10, 1, 2, 2), torch.randint(0, 2, (10,))
    out, _ = AdversarialTraining(attack="fgsm", params={"eps": 0.1}, fraction=0.3).transform(model, x, y)
    assert int(((out - x).flatten(1).abs().sum(1) > 0).sum()) == 3
    with pytest.raises(UsageError, match="unknown attack"):
        AdversarialTraining(attack="fgsn")
