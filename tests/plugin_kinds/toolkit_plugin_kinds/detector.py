"""The logit margin: the top logit minus the runner-up; higher is more in-distribution."""

from __future__ import annotations

import torch
from torch import nn

from toolkit.outputs import Outputs


class Margin:
    """Score ``z_(1) - z_(2)``, the gap between the two largest logits (no fitting needed).

    Args:
        temperature: the logits are divided by it first (default 1.0).
    """

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def fit(self, model: nn.Module, train: Outputs) -> Margin:
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        top = (x.logits / self.temperature).topk(2, dim=1).values
        return top[:, 0] - top[:, 1]
