"""Gradient saliency maps.

Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps", ICLR Workshops 2014.

    M(x)_ij = max_c | d f_t(x) / d x_cij |

the absolute gradient of the target class's logit with respect to the input, reduced
over channels to a gray-scale map (``reduce = "max"``, the paper's choice, or ``"mean"``).
Attributions have the input's shape with one channel: ``(N, 1, H, W)`` for images,
``(N, D)`` for features. The model runs in eval mode; its weights get no gradient.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from toolkit.modelstate import frozen


class Saliency:
    """Absolute input-gradient saliency (Simonyan et al. 2014).

    Args:
        reduce: how channels are combined: ``"max"`` (default) or ``"mean"``.

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(3, 2, bias=False)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 0.0]]))
        >>> Saliency().explain(model, torch.zeros(1, 3), torch.tensor([0])).tolist()
        [[1.0, 2.0, 0.5]]
    """

    def __init__(self, *, reduce: Literal["max", "mean"] = "max") -> None:
        self.reduce = reduce

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Saliency of each input for its target class."""
        with frozen(model), torch.enable_grad():
            x = inputs.detach().clone().requires_grad_(True)
            logits = model(x)
            picked = logits.gather(1, targets.view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(picked, x)
        grad = grad.abs()
        if grad.dim() == 4:
            grad = grad.amax(dim=1, keepdim=True) if self.reduce == "max" else grad.mean(dim=1, keepdim=True)
        return grad.detach()
