"""Detectors: each score rule on a hand-checkable case."""

from __future__ import annotations

import math

import torch

from toolkit.detectors.energy import Energy, energy_score
from toolkit.detectors.msp import MSP, msp_score


def test_msp_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0 + math.log(3)]])
    expected = [math.exp(2) / (math.exp(2) + 1), 0.5, 0.75]
    assert torch.allclose(msp_score(logits), torch.tensor(expected))
    # a temperature flattens the softmax
    assert msp_score(logits, 10.0)[0] < msp_score(logits)[0]


def test_energy_by_hand() -> None:
    logits = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]])
    assert torch.allclose(energy_score(logits), torch.tensor([math.log(2), math.log(4)]))
    assert torch.allclose(energy_score(logits, 2.0), 2 * torch.logsumexp(logits / 2, dim=1))


def test_detectors_read_the_shared_logits() -> None:
    class Fixed:
        logits = torch.tensor([[3.0, 0.0, 0.0]])

    assert torch.allclose(MSP().fit(None, Fixed()).score(None, Fixed()), msp_score(Fixed.logits))  # type: ignore[arg-type]
    assert torch.allclose(Energy(temperature=0.5).score(None, Fixed()), energy_score(Fixed.logits, 0.5))  # type: ignore[arg-type]
