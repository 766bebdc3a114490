"""Maximum softmax probability (MSP).

Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
Examples in Neural Networks", ICLR 2017.

    score(x) = max_k softmax(f(x) / T)_k

with logits ``f(x)`` and temperature ``T`` (default 1, the paper's baseline). Needs no
fitting. Higher means more in-distribution.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from toolkit.outputs import Outputs


def msp_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``max_k softmax(logits / T)_k`` per row, shape ``(N,)``."""
    return torch.softmax(logits.float() / temperature, dim=1).max(dim=1).values


class MSP:
    """Maximum softmax probability detector (Hendrycks & Gimpel, ICLR 2017).

    ``score = max_k softmax(logits / temperature)_k``; higher is more in-distribution.

    Args:
        temperature: softmax temperature ``T`` (default 1.0).

    Example:
        >>> import torch
        >>> [round(v, 3) for v in msp_score(torch.tensor([[2.0, 0.0], [0.0, 0.0]])).tolist()]
        [0.881, 0.5]
    """

    def __init__(self, *, temperature: Annotated[float, Field(gt=0)] = 1.0) -> None:
        self.temperature = temperature

    def fit(self, model: nn.Module, train: Outputs) -> MSP:
        """MSP needs no fitting."""
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Maximum softmax probability of each sample."""
        return msp_score(x.logits, self.temperature)
