"""The training loop and batch augmentation."""

from __future__ import annotations

import pytest
import torch

from toolkit.augment import batch_augmentation, hflip, random_crop
from toolkit.data.synthetic import load
from toolkit.models.mlp import build
from toolkit.recipe import TrainConfig
from toolkit.training import evaluate, make_schedule, train


def trained(seed: int, **config: object) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    data = load(0, n_per_class=50)
    torch.manual_seed(seed)
    model = build(data.info, hidden=[16])
    history = train(model, data.train, TrainConfig(**config), seed=seed, test=data.test)  # type: ignore[arg-type]
    return model, history


def test_training_learns_and_records_history() -> None:
    data = load(0, n_per_class=50)
    torch.manual_seed(0)
    model = build(data.info, hidden=[16])
    _, before = evaluate(model, data.test)
    history = train(model, data.train, TrainConfig(epochs=5, lr=0.1, batch_size=32), seed=0, test=data.test)
    _, after = evaluate(model, data.test)
    assert after > before and after > 0.8
    assert len(history) == 5
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] == pytest.approx(after)
    assert not model.training


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_same_seed_same_weights(optimizer: str) -> None:
    a, ha = trained(0, epochs=2, lr=0.01, optimizer=optimizer)
    b, hb = trained(0, epochs=2, lr=0.01, optimizer=optimizer)
    c, _ = trained(1, epochs=2, lr=0.01, optimizer=optimizer)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert any(
        not torch.equal(va, vc)
        for va, vc in zip(a.state_dict().values(), c.state_dict().values(), strict=True)
    )
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_schedules() -> None:
    _, cosine = trained(0, epochs=4, lr=0.1, schedule="cosine")
    assert [round(h["lr"], 6) for h in cosine] == [0.1, 0.085355, 0.05, 0.014645]
    _, step = trained(0, epochs=3, lr=0.1, schedule="step", step_size=2, gamma=0.5)
    assert [h["lr"] for h in step] == pytest.approx([0.1, 0.1, 0.05])


def test_batch_hook_sees_every_batch() -> None:
    data = load(0, n_per_class=20)
    model = build(data.info, hidden=[8])
    seen = []
    modes: list[bool] = []

    def hook(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(len(y))
        m.eval()  # a defense may switch modes; the loop restores train mode
        return x, y

    model.register_forward_pre_hook(lambda m, args: modes.append(m.training))
    train(model, data.train, TrainConfig(epochs=2, batch_size=16), seed=0, batch_hook=hook)
    assert sum(seen) == 2 * len(data.train)
    assert modes and all(modes)  # every training forward pass ran in train mode


def test_augmentation_needs_images() -> None:
    from toolkit.errors import UsageError

    data = load(0, n_per_class=20)
    with pytest.raises(UsageError, match="needs images"):
        train(build(data.info), data.train, TrainConfig(epochs=1, augment=["hflip"]), seed=0)


def naive_crop(x: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, padding: int) -> torch.Tensor:
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    h, w = x.shape[2:]
    return torch.stack([padded[i, :, oy[i] : oy[i] + h, ox[i] : ox[i] + w] for i in range(len(x))])


def test_random_crop_matches_a_per_sample_crop() -> None:
    x = torch.randint(0, 256, (6, 3, 5, 7), dtype=torch.uint8)
    g = torch.Generator().manual_seed(3)
    out = random_crop(x, padding=2, generator=g)
    g = torch.Generator().manual_seed(3)
    oy = torch.randint(0, 5, (6, 1), generator=g)[:, 0]
    ox = torch.randint(0, 5, (6, 1), generator=g)[:, 0]
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, naive_crop(x, oy, ox, 2))
    assert torch.equal(random_crop(x, padding=0, generator=g), x)


def test_hflip_flips_about_half_and_is_seeded() -> None:
    x = torch.rand(400, 1, 2, 3)
    out = hflip(x, generator=torch.Generator().manual_seed(0))
    flipped = (out == x.flip(3)).flatten(1).all(1) & ~(out == x).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all()) and 150 < int(flipped.sum()) < 250
    again = hflip(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_batch_augmentation_chain() -> None:
    assert batch_augmentation([]) is None
    aug = batch_augmentation(["random_crop", "hflip"], padding=1)
    assert aug is not None
    x = torch.rand(4, 3, 8, 8)
    assert aug(x, torch.Generator().manual_seed(0)).shape == x.shape


def test_make_schedule_none() -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    assert make_schedule(opt, TrainConfig()) is None
