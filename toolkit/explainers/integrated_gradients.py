"""Integrated gradients, through Captum.

Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.

    IG_i(x) = (x_i - b_i) * integral_0^1 d f_t(b + a (x - b)) / d x_i da

with a black baseline ``b = 0`` and ``n_steps`` (default 32) points of the
Gauss-Legendre rule, as ``captum.attr.IntegratedGradients`` computes it. Attributions have
the input's shape; the maps sum (over pixels and channels) to ``f_t(x) - f_t(b)``.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from toolkit.explainers.captum_adapter import Captum


class IntegratedGradients:
    """Integrated gradients (Sundararajan et al., ICML 2017) via Captum.

    Args:
        n_steps: integration points (default 32).
    """

    def __init__(self, *, n_steps: Annotated[int, Field(ge=2)] = 32) -> None:
        self.n_steps = n_steps

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Integrated gradients of each input for its target class, from a black baseline."""
        return Captum(method="IntegratedGradients", params={"n_steps": self.n_steps}).explain(
            model, inputs, targets
        )
