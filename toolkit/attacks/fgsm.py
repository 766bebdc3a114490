"""Fast Gradient Sign Method (FGSM).

Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.

    x_adv = clip_D(x + eps * sign(grad_x L(f(x), y)))          (untargeted)
    x_adv = clip_D(x - eps * sign(grad_x L(f(x), t)))          (targeted, target t)

L-infinity budget ``eps`` (default 8/255) on inputs ``(N, ...)``, clipped to the data's
input domain ``D`` (``[0, 1]`` for images, the declared feature bounds for tabular data). One
gradient with respect to the input; the model runs in eval mode, its weights get no
gradient and its mode is restored.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from toolkit.attacks.base import Target, choose_targets, input_gradient
from toolkit.modelstate import frozen
from toolkit.params import to_number
from toolkit.protocols import EvasionAttack


class FGSM(EvasionAttack):
    """FGSM (Goodfellow et al., ICLR 2015), L-infinity.

    Args:
        eps: the budget, in input units (default 8/255; ``"8/255"`` is accepted).
        target: ``"none"`` (untargeted, default), ``"random"``, ``"least_likely"`` or ``"next"``.
        eval_mode: run the model in eval mode (default true; batch-norm statistics are
            never updated either way).
        seed: seed of random targets.

    The result is clipped to the data's input domain (``[0, 1]`` for images; see
    :class:`toolkit.data.domain.Domain`).

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(2, 2)
        >>> x = torch.full((1, 2), 0.5)
        >>> round(float((FGSM(eps=0.1)(model, x, torch.tensor([0])) - x).abs().max()), 6)
        0.1
    """

    budget = "eps"

    def __init__(
        self,
        *,
        eps: Annotated[float, Field(ge=0)] = 8 / 255,
        target: Target = "none",
        eval_mode: bool = True,
        seed: int = 0,
    ) -> None:
        self.eps = float(to_number(eps))
        self.target = target
        self.eval_mode = eval_mode
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.targets_: torch.Tensor | None = None

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial examples for ``x`` with labels ``y``."""
        with frozen(model, eval_mode=self.eval_mode):
            targets = choose_targets(model, x, y, self.target, self.generator)
            self.targets_ = targets
            grad = input_gradient(model, x, y, targets)
            return self.domain.clamp(x + self.eps * grad.sign()).detach()
