"""Energy score.

Liu, Wang, Owens & Li, "Energy-based Out-of-distribution Detection", NeurIPS 2020.

    E(x; f) = -T * log sum_k exp(f_k(x) / T)
    score(x) = -E(x; f) = T * logsumexp(f(x) / T)

with logits ``f(x)`` and temperature ``T`` (default 1, as in the paper). Needs no fitting.
Higher (lower energy) means more in-distribution.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from toolkit.outputs import Outputs


def energy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Negative free energy ``T * logsumexp(logits / T)`` per row, shape ``(N,)``."""
    return temperature * torch.logsumexp(logits.float() / temperature, dim=1)


class Energy:
    """Energy-based detector (Liu et al., NeurIPS 2020).

    ``score = T * logsumexp(logits / T)``, the negative free energy; higher is more
    in-distribution.

    Args:
        temperature: temperature ``T`` (default 1.0).

    Example:
        >>> import torch
        >>> energy_score(torch.tensor([[0.0, 0.0]])).item() == torch.log(torch.tensor(2.0)).item()
        True
    """

    def __init__(self, *, temperature: Annotated[float, Field(gt=0)] = 1.0) -> None:
        self.temperature = temperature

    def fit(self, model: nn.Module, train: Outputs) -> Energy:
        """The energy score needs no fitting."""
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Negative energy of each sample."""
        return energy_score(x.logits, self.temperature)
