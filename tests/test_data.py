"""Datasets: the holdout semantics, stratification and errors."""

from __future__ import annotations

import pytest
import torch

from toolkit.data import digits, synthetic
from toolkit.data.inputs import to_model_input as to_input
from toolkit.errors import DataError


def test_digits_holdout_semantics() -> None:
    full = digits.load(0)
    held = digits.load(0, holdout=["9", 3])
    assert full.ood is None and full.info.num_classes == 10
    assert held.info.class_names == ["0", "1", "2", "4", "5", "6", "7", "8"]
    assert held.info.holdout == ["3", "9"]
    for split in (held.train, held.test):
        assert int(split.y.max()) == 7 and int(split.y.min()) == 0
    assert held.ood is not None and set(held.ood.y.tolist()) == {3, 9}
    # every test sample of a kept class is in test, every held-out one in ood
    assert len(held.test) + len(held.ood) == len(full.test)
    assert len(held.train) == int((~torch.isin(full.train.y, torch.tensor([3, 9]))).sum())
    # the relabelled test split is the same images as the full one minus the held-out classes
    kept = ~torch.isin(full.test.y, torch.tensor([3, 9]))
    assert torch.equal(held.test.x, full.test.x[kept])


def test_digits_images_and_stratification() -> None:
    data = digits.load(0, test_size=0.3)
    assert data.train.x.dtype == torch.uint8 and data.train.x.shape[1:] == (1, 8, 8)
    assert int(data.train.x.max()) == 255
    x = to_input(data.train.x[:4])
    assert x.dtype == torch.float32 and float(x.max()) <= 1.0
    train_share = torch.bincount(data.train.y) / len(data.train)
    test_share = torch.bincount(data.test.y) / len(data.test)
    assert torch.allclose(train_share, test_share, atol=0.01)
    assert len(data.test) == pytest.approx(0.3 * 1797, abs=1)
    other = digits.load(1)
    assert not torch.equal(other.test.y, data.test.y)


def test_unknown_or_excessive_holdout() -> None:
    with pytest.raises(DataError, match="unknown class 'nine'"):
        digits.load(0, holdout=["nine"])
    with pytest.raises(DataError, match="out of range"):
        digits.load(0, holdout=[10])
    with pytest.raises(DataError, match="keep at least 2"):
        synthetic.load(0, n_classes=3, holdout=["c0", "c1"])


def test_normalization_statistics_ignore_held_out_classes() -> None:
    from toolkit.data.base import channel_stats

    held = digits.load(0, holdout=["1"])
    assert held.info.mean == channel_stats(held.train.x)[0]
    assert held.info.mean != digits.load(0).info.mean


def test_synthetic_modalities() -> None:
    tab = synthetic.load(0, n_features=5)
    assert tab.train.x.dtype == torch.float32 and tab.train.x.shape[1] == 5 and tab.info.mean is None
    img = synthetic.load(0, modality="image", image_size=6)
    assert img.train.x.dtype == torch.uint8 and img.train.x.shape[1:] == (1, 6, 6)
    assert img.info.modality == "image" and img.info.mean is not None
