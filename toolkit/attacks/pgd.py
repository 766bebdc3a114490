"""Projected Gradient Descent (PGD).

Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018.

Start at ``x`` or, with ``random_start``, at a uniform point of the ball; then ``steps``
times:

    L-inf: x <- Proj_{||x - x0||_inf <= eps} (x + alpha * sign(g))
    L2:    x <- Proj_{||x - x0||_2  <= eps} (x + alpha * g / ||g||_2)

followed by clipping to the data's input domain (``[0, 1]`` for images), with ``g`` the
gradient of the loss with respect to the
input (ascent on the true label, or descent on the target's). Defaults: ``eps`` 8/255,
``alpha = 2.5 * eps / steps`` (2/255 for eps 8/255), 10 steps, L-inf, random start.
The model runs in eval mode, its weights
get no gradient and its mode is restored; the random start is seeded.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.attacks.base import Target, choose_targets, input_gradient
from toolkit.modelstate import frozen
from toolkit.params import to_number
from toolkit.protocols import EvasionAttack


def _norms(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """``delta`` projected onto the ``eps`` ball of the norm."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _norms(delta)).clamp(max=1.0)


class PGD(EvasionAttack):
    """PGD (Madry et al., ICLR 2018), L-infinity or L2.

    Args:
        eps: the budget (default 8/255).
        alpha: the step size (default ``2.5 * eps / steps``, Madry et al.'s choice: 2/255 for
            eps 8/255 and 10 steps; for L2 a step of that Euclidean length).
        steps: iterations (default 10).
        norm: ``"linf"`` (default) or ``"l2"``.
        random_start: start at a random point of the ball (default true).
        target: ``"none"`` (untargeted, default), ``"random"``, ``"least_likely"`` or ``"next"``.
        eval_mode: run the model in eval mode (default true).
        seed: seeds the sequence of random starts and random targets (each call draws anew).
    """

    budget = "eps"

    def __init__(
        self,
        *,
        eps: Annotated[float, Field(ge=0)] = 8 / 255,
        alpha: Annotated[float, Field(gt=0)] | None = None,
        steps: Annotated[int, Field(ge=1)] = 10,
        norm: Literal["linf", "l2"] = "linf",
        random_start: bool = True,
        target: Target = "none",
        eval_mode: bool = True,
        seed: int = 0,
    ) -> None:
        self.eps = float(to_number(eps))
        self.alpha = None if alpha is None else float(to_number(alpha))
        self.steps = steps
        self.norm = norm
        self.random_start = random_start
        self.target = target
        self.eval_mode = eval_mode
        self.seed = seed
        # one generator per attack: each call (batch) draws a new start, the sequence is seeded
        self.generator = torch.Generator().manual_seed(seed)
        self.targets_: torch.Tensor | None = None

    def start(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The starting point: ``x``, or a uniform draw from the ball around it."""
        if not self.random_start or self.eps == 0:
            return x.clone()
        if self.norm == "linf":
            delta = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x) * self.eps
        else:
            direction = torch.randn(x.shape, generator=generator).to(x)
            direction = direction / _norms(direction)
            radius = torch.rand(x.shape[0], generator=generator).to(x) ** (1 / x[0].numel())
            delta = direction * radius.view(-1, *([1] * (x.dim() - 1))) * self.eps
        return self.domain.clamp(x + delta)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial examples for ``x`` with labels ``y``."""
        generator = self.generator
        with frozen(model, eval_mode=self.eval_mode):
            targets = choose_targets(model, x, y, self.target, generator)
            self.targets_ = targets
            x0 = x.detach()
            adv = self.start(x0, generator)
            alpha = self.alpha if self.alpha is not None else 2.5 * self.eps / self.steps
            for _ in range(self.steps):
                g = input_gradient(model, adv, y, targets)
                step = g.sign() if self.norm == "linf" else g / _norms(g)
                adv = x0 + project(adv + alpha * step - x0, self.eps, self.norm)
                adv = self.domain.clamp(adv).detach()
            return adv
