"""Adversarial training: train on adversarial examples made on the fly.

Goodfellow, Shlens & Szegedy, ICLR 2015 (mixed clean and FGSM batches); Madry, Makelov,
Schmidt, Tsipras & Vladu, ICLR 2018 (all PGD: ``min_theta E max_{||d|| <= eps} L(x + d, y)``).

In every training batch a fraction ``fraction`` of the samples (default 1.0, Madry's
setting) is replaced by adversarial examples from the named attack (any registered attack,
default ``pgd``) against the current model; the attack runs in eval mode, so batch-norm
statistics are only updated by the training step itself. Plugged into the shared training
loop as a batch transform (a :class:`~toolkit.protocols.BatchDefense`); the attack moves
inputs within the data's input domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from toolkit.protocols import BatchDefense

if TYPE_CHECKING:
    from toolkit.data.base import DataInfo


class AdversarialTraining(BatchDefense):
    """Adversarial training (Goodfellow et al. 2015; Madry et al. 2018).

    Args:
        attack: a registered attack (default ``"pgd"``).
        params: that attack's parameters (default: its own defaults).
        fraction: share of each batch replaced by adversarial examples (default 1.0).
        seed: seeds which samples are replaced.
    """

    #: ``attack`` names a registered evasion attack whose parameters are ``params``: ``toolkit
    #: validate`` checks both, and the attack's code is part of the training fingerprint.
    nested: ClassVar[dict[str, tuple[str, ...]]] = {"attack": ("attacks", "params", "evasion")}

    def __init__(
        self,
        *,
        attack: str = "pgd",
        params: dict[str, Any] = {},  # noqa: B006 - read-only default
        fraction: Annotated[float, Field(ge=0, le=1)] = 1.0,
        seed: int = 0,
    ) -> None:
        from toolkit.registry import registry

        self.attack_name = attack
        entry = registry("attacks").get(attack)
        self.attack = entry.load()(**entry.signature().validate(params, f"attack {attack}"))
        self.fraction = fraction
        self.generator = torch.Generator().manual_seed(seed)

    def bind(self, info: DataInfo) -> AdversarialTraining:
        """The attack works within the data's input domain."""
        from toolkit.protocols import bind

        bind(self.attack, info)
        return self

    def transform(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch with a fraction of its samples replaced by adversarial examples."""
        if self.fraction <= 0:
            return x, y
        n = len(y)
        count = round(self.fraction * n)
        if count == 0:
            return x, y
        if count >= n:
            return self.attack(model, x, y), y
        idx = torch.randperm(n, generator=self.generator)[:count].to(x.device)
        x = x.clone()
        x[idx] = self.attack(model, x[idx], y[idx])
        return x, y
