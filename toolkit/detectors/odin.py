"""ODIN: temperature scaling and input perturbation.

Liang, Li & Srikant, "Enhancing the Reliability of Out-of-distribution Image Detection in
Neural Networks", ICLR 2018.

    x' = x - eps * sign(-grad_x log S_ŷ(x; T)),   S(x; T) = softmax(f(x) / T)
    score(x) = max_k S_k(x'; T)

with the predicted class ``ŷ``, temperature ``T`` (default 1000) and perturbation size
``eps`` (default 0.0014, in the model's input scale: images in [0, 1]). The perturbation
raises the softmax score of in-distribution inputs more than that of OOD inputs. Needs no
fitting; needs one forward and backward pass per batch (the model's parameters receive no
gradient and its train/eval mode is restored).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from toolkit.errors import UsageError
from toolkit.modelstate import frozen
from toolkit.outputs import Outputs


def odin_score(
    model: nn.Module, x: torch.Tensor, *, temperature: float = 1000.0, eps: float = 0.0014
) -> torch.Tensor:
    """ODIN scores of a batch ``x`` (model input scale), shape ``(N,)``; model in eval mode."""
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        logits = model(x) / temperature
        loss = F.cross_entropy(logits, logits.argmax(dim=1))  # -log S_ŷ, averaged
        (grad,) = torch.autograd.grad(loss, x)
    x_perturbed = x.detach() - eps * grad.sign()
    with torch.no_grad():
        return torch.softmax(model(x_perturbed) / temperature, dim=1).max(dim=1).values


class ODIN:
    """ODIN (Liang et al., ICLR 2018); higher is more in-distribution.

    Args:
        temperature: softmax temperature ``T`` (default 1000).
        eps: size of the input perturbation (default 0.0014).
        batch_size: samples per forward/backward pass (default 256).
    """

    def __init__(
        self,
        *,
        temperature: Annotated[float, Field(gt=0)] = 1000.0,
        eps: Annotated[float, Field(ge=0)] = 0.0014,
        batch_size: Annotated[int, Field(ge=1)] = 256,
    ) -> None:
        self.temperature = temperature
        self.eps = eps
        self.batch_size = batch_size

    def fit(self, model: nn.Module, train: Outputs) -> ODIN:
        """ODIN needs no fitting."""
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Perturbed, temperature-scaled maximum softmax probability of each sample."""
        out = []
        with frozen(model):
            for _, xb in x.batches(self.batch_size):
                if not isinstance(xb, torch.Tensor):
                    raise UsageError("odin perturbs its inputs: it needs tensor inputs, not named parts")
                out.append(odin_score(model, xb, temperature=self.temperature, eps=self.eps).float().cpu())
        return torch.cat(out) if out else torch.zeros(0)
