"""What evasion attacks share: target selection and the loss gradient with respect to the
input. Running the model without touching it is :func:`toolkit.modelstate.frozen`; the
contract every attack meets is :class:`toolkit.protocols.EvasionAttack`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.errors import UsageError
from toolkit.params import to_number
from toolkit.protocols import EvasionAttack

Target = Literal["none", "random", "least_likely", "next"]


def choose_targets(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target: Target,
    generator: torch.Generator | None = None,
) -> torch.Tensor | None:
    """Target labels for a targeted attack (``None`` for an untargeted one).

    ``random``: a uniformly drawn class other than the true one; ``least_likely``: the class
    the model finds least likely (Kurakin et al. 2017); ``next``: ``(y + 1) mod K``.
    """
    if target == "none":
        return None
    with torch.no_grad():
        logits = model(x)
    k = logits.shape[1]
    if target == "least_likely":
        return logits.argmin(dim=1)
    if target == "next":
        return (y + 1) % k
    shift = torch.randint(1, k, y.shape, generator=generator).to(y.device)
    return (y + shift) % k


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None
) -> torch.Tensor:
    """Gradient of the attack objective with respect to ``x`` only (``torch.autograd.grad``).

    Untargeted: ascend the cross-entropy of the true label. Targeted: descend the
    cross-entropy of the target, i.e. ascend its negative.
    """
    with torch.enable_grad():  # attacks work when called under torch.no_grad() too
        x = x.detach().requires_grad_(True)
        logits = model(x)
        loss = F.cross_entropy(logits, y) if targets is None else -F.cross_entropy(logits, targets)
        (grad,) = torch.autograd.grad(loss, x)
    return grad


class LibraryAttack(EvasionAttack):
    """An evasion attack of another library, chosen by class name: what the adapters share.

    Args:
        attack: the class name in the library.
        params: its keyword arguments (numeric strings such as ``"8/255"`` are accepted); the
            budget a sweep sets is ``params.eps``.
        seed: seeds the library's random draws for each call.
    """

    #: The library's name, for messages.
    library: ClassVar[str] = ""
    budget = "params.eps"

    def __init__(self, *, attack: str, params: dict[str, Any] = {}, seed: int = 0) -> None:  # noqa: B006
        self.attack = attack
        self.params = {k: to_number(v) for k, v in params.items()}
        self.seed = seed
        if self.params.get("targeted"):
            raise UsageError(
                f"attacks: targeted attacks through {self.library} are not supported; use pgd with target"
            )
