"""Neural Cleanse: the decision rule against IBM ART's, a planted shortcut found without
training, and the scanner contract. The shipped backdoor_digits recipe (its target flagged,
its clean twin not) is run in tests/test_backdoor.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from conftest import needs
from torch import nn

from toolkit.detectors.neural_cleanse import NeuralCleanse
from toolkit.detectors.scan import ModelScan, mad_outliers
from toolkit.errors import RecipeError
from toolkit.recipe import parse_recipe
from toolkit.testing import check_detector


def test_the_anomaly_index_by_hand() -> None:
    values = [10.0, 11.0, 9.0, 10.5, 9.5, 1.0]
    index, flagged = mad_outliers(values)
    median, mad = 9.75, 1.4826 * 0.75  # deviations 0.25 1.25 0.75 0.75 0.25 8.75
    assert index == pytest.approx([abs(v - median) / mad for v in values])
    assert flagged == [5]
    # a large outlier is no backdoor target: only small triggers are flagged
    assert mad_outliers([10.0, 11.0, 9.0, 10.5, 9.5, 30.0])[1] == []
    # half the values equal: zero MAD; the others are infinitely far
    index, flagged = mad_outliers([5.0, 5.0, 5.0, 1.0])
    assert index[:3] == [0.0, 0.0, 0.0] and index[3] == float("inf") and flagged == [3]


@pytest.mark.parametrize("seed", range(5))
def test_the_decision_rule_matches_art_outlier_detection(seed: int) -> None:
    needs("art", what="the cross-check with IBM ART's Neural Cleanse rule")
    from art.estimators.poison_mitigation.neural_cleanse.neural_cleanse import NeuralCleanseMixin

    rng = np.random.default_rng(seed)
    masks = rng.uniform(0, 1, size=(10, 1, 6, 6)) ** 2
    masks[seed] *= 0.05 * seed  # one class's mask shrunk (or, for seed 0, emptied)

    class Given(NeuralCleanseMixin):  # ART's rule over the masks found here
        nb_classes = 10

        def generate_backdoor(self, x_val: Any, y_val: Any, y_target: Any) -> tuple[Any, Any]:
            k = int(np.argmax(y_target))
            return masks[k], np.zeros_like(masks[k])

    theirs = [
        label for label, _, _ in Given(steps=1).outlier_detection(np.zeros((1, 1, 6, 6)), np.eye(10)[:1])
    ]
    norms = [float(np.abs(m).sum()) for m in masks]
    assert mad_outliers(norms)[1] == theirs
    assert theirs == [seed]


class Shortcut(nn.Module):
    """A linear classifier of 8x8 images: class k (1..9) adds up its own block of six pixels,
    while one pixel alone drives class 0 (a planted backdoor that needs no training)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(64, 10)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
            for k in range(1, 10):
                self.head.weight[k, 6 * (k - 1) : 6 * k] = 2.0
            self.head.weight[0, 63] = 40.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.flatten(1))


def test_a_planted_one_pixel_trigger_is_reversed_and_flagged() -> None:
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.5
    x[..., 7, 7] = 0.0
    model = Shortcut()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    found = NeuralCleanse(steps=300, samples=64).scan(model, x)
    assert isinstance(found, ModelScan)
    assert found.flagged == [0]
    assert found.values[0] < 0.5 * min(found.values[1:])
    assert found.masks is not None and int(found.masks[0].flatten().argmax()) == 63  # the planted pixel
    assert found.details["success"][0] >= 0.99 and all(found.details["reached"])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    again = NeuralCleanse(steps=300, samples=64).scan(model, x)
    assert again.values == found.values  # seeded


def test_the_scanner_contract() -> None:
    check_detector(NeuralCleanse, params={"steps": 10, "samples": 32})

    class Meddles(NeuralCleanse):
        def scan(self, model: nn.Module, x: torch.Tensor) -> ModelScan:
            with torch.no_grad():
                next(model.parameters()).add_(1.0)
            return super().scan(model, x)

    with pytest.raises(AssertionError, match="changed the model's parameters"):
        check_detector(Meddles, params={"steps": 2, "samples": 16})


def test_tasks_that_score_inputs_refuse_a_scanner() -> None:
    spec = {
        "task": "ood",
        "name": "x",
        "dataset": {"name": "digits", "holdout": ["9"]},
        "model": {"name": "small_cnn"},
        "detectors": [{"name": "msp"}, {"name": "neural_cleanse"}],
    }
    with pytest.raises(RecipeError, match=r"detectors\.1\.name: the ood task needs detectors that score"):
        parse_recipe(spec)


def test_scanning_checks_its_inputs() -> None:
    model = Shortcut()
    with pytest.raises(ValueError, match="got none"):
        NeuralCleanse(steps=1).scan(model, torch.zeros(0, 1, 8, 8))
    with pytest.raises(ValueError, match=r"images in \[0, 1\].*0\.\.255"):
        NeuralCleanse(steps=1).scan(
            model, torch.full((2, 1, 8, 8), 255.0).index_fill(0, torch.tensor([0]), 0)
        )
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        NeuralCleanse(steps=1).scan(model, torch.zeros(4, 64))


def test_classes_in_chunks_find_the_same_backdoor() -> None:
    """Fewer classes per pass (less memory) change the draws, not the verdict."""
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.5
    x[..., 7, 7] = 0.0
    found = NeuralCleanse(steps=300, samples=64, chunk=3).scan(Shortcut(), x)
    assert found.flagged == [0] and len(found.values) == 10 and all(found.details["reached"])
