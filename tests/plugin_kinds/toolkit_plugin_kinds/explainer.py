"""Gradient times input: ``x * d f_t(x) / d x`` for the target class ``t``."""

from __future__ import annotations

import torch
from torch import nn


class GradientTimesInput:
    """Gradient times input (Shrikumar et al. 2016): the input's shape, signed.

    Args:
        absolute: return the absolute value (default false).
    """

    def __init__(self, *, absolute: bool = False) -> None:
        self.absolute = absolute

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                x = inputs.detach().clone().requires_grad_(True)
                picked = model(x).gather(1, targets.view(-1, 1)).sum()
                (grad,) = torch.autograd.grad(picked, x)  # the weights get no gradient
        finally:
            model.train(was_training)
        out = grad * inputs.detach()
        return out.abs() if self.absolute else out
