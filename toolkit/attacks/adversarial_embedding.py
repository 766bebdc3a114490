"""Adversarial embedding: a backdoor whose poisons hide among the clean samples' features.

Tan & Shokri, "Bypassing Backdoor Detection Algorithms in Deep Learning", IEEE EuroS&P 2020.

The poisons are those of :mod:`toolkit.attacks.patch_trigger` (a trigger stamped on a share
of the source classes' images, relabelled to the target). The attacker also controls
training: a discriminator ``D`` (an MLP on the penultimate features ``H(x)``) learns to tell
poisoned samples from clean ones, and the model is trained against it::

    min_f  L(f(x), y) - lambda * L_D(D(H(x)), p(x))        p(x) = 1 for a poisoned sample

alternating, on every batch, one step of ``D`` (on the features, detached) with one step of
the model. Detectors that separate or cluster representations (activation clustering,
spectral signatures) then find the poisons far less often, at a similar attack success rate.
``L_D`` is the binary cross-entropy, weighted so poisons and clean samples count equally
(``balance``). With ``against = "target"`` (the default) ``D`` compares the poisons with the
clean samples that carry the poisons' label only (the clean cats, when dogs are moved into
the cats): the filters cluster each label's features, so those are the features the
poisons must resemble; comparing them with every clean sample (``all``) also pulls them
towards their own source class. On ``backdoor_digits_adaptive`` ``target`` costs 1 point
of clean accuracy where ``all`` cost 5, and hides the poisons as well.

``adversary = "maximize"`` is that objective. Its term is unbounded (the model gains by
making ``D`` confidently wrong), and on the digits it made training erratic: over
``lambda`` in 0.1-3 the attack success rate ranged from 0 to 1.0 and activation
clustering still found the poisons. ``adversary = "confuse"`` (the default) has the model
push ``D``'s output towards 1/2 on every sample instead, ``+ lambda * L_D(D(H(x)), 1/2)``,
the usual bounded form of an adversarial feature objective; on ``backdoor_digits_adaptive``
it hides the poisons from both filters at an ASR of 0.98. Defaults: ``strength`` (lambda)
0.03, a discriminator with one hidden layer of 128 units, Adam at 1e-3, ``against``
``target``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from toolkit.attacks.backdoor import Mode
from toolkit.attacks.patch_trigger import PatchTrigger
from toolkit.data.base import DataBundle


class AdversarialEmbedding(PatchTrigger):
    """Adversarial embedding (Tan & Shokri, EuroS&P 2020): a patch trigger trained to hide.

    Args:
        target, source, rate, count, mode, trigger, size, position, margin: as
            ``patch_trigger``.
        strength: lambda, the weight of the adversarial term (default 0.03; 0 is the plain
            patch trigger).
        hidden: hidden units of the discriminator (default 128).
        lr: the discriminator's Adam learning rate (default 1e-3).
        balance: weight poisons and clean samples equally in the discriminator's loss
            (default true; poisons are a small share of a batch).
        adversary: ``confuse`` (default: push ``D`` towards 1/2) or ``maximize`` (the paper's
            ``- lambda * L_D``).
        against: the clean samples ``D`` compares the poisons with: ``target`` (default:
            those labelled like the poisons, the class whose features the filters cluster)
            or ``all``.
    """

    def __init__(
        self,
        *,
        target: str | int = 0,
        source: list[str | int] | None = None,
        rate: Annotated[float, Field(gt=0, le=1)] = 0.1,
        count: Annotated[int, Field(ge=1)] | None = None,
        mode: Mode = "all_to_one",
        trigger: str = "white_square",
        size: Annotated[int, Field(ge=1)] = 4,
        position: str | list[int] = "bottom_right",
        margin: Annotated[int, Field(ge=0)] = 0,
        strength: Annotated[float, Field(ge=0)] = 0.03,
        hidden: Annotated[int, Field(ge=1)] = 128,
        lr: Annotated[float, Field(gt=0)] = 1e-3,
        balance: bool = True,
        adversary: Literal["confuse", "maximize"] = "confuse",
        against: Literal["target", "all"] = "target",
    ) -> None:
        super().__init__(target=target, source=source, rate=rate, count=count, mode=mode, trigger=trigger,
                         size=size, position=position, margin=margin)  # fmt: skip
        self.strength, self.hidden, self.lr, self.balance = strength, hidden, lr, balance
        self.adversary, self.against = adversary, against

    def objective(self, bundle: DataBundle) -> Any:
        index = bundle.extras.get("poisoned", torch.empty(0, dtype=torch.long))
        poisoned = torch.zeros(len(bundle.train), dtype=torch.float32)
        poisoned[index] = 1.0
        y = bundle.train.y
        compared = (
            torch.isin(y, y[index]) if self.against == "target" else torch.ones(len(y), dtype=torch.bool)
        )
        return Embedding(
            poisoned, compared, strength=self.strength, hidden=self.hidden, lr=self.lr, balance=self.balance,
            adversary=self.adversary,
        )  # fmt: skip


class Embedding:
    """The attacker's training term: one discriminator step, then the model's adversarial term."""

    def __init__(
        self,
        poisoned: torch.Tensor,
        compared: torch.Tensor,
        *,
        strength: float,
        hidden: int,
        lr: float,
        balance: bool,
        adversary: str,
    ) -> None:
        self.poisoned, self.strength, self.hidden, self.lr = poisoned, strength, hidden, lr
        self.adversary, self.compared = adversary, compared
        share = float(poisoned[compared].mean()) if bool(compared.any()) else 0.0
        self.pos_weight = (1 - share) / share if balance and 0 < share < 1 else 1.0
        self.discriminator: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def _build(self, width: int, device: torch.device) -> None:
        self.discriminator = nn.Sequential(
            nn.Linear(width, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 1)
        ).to(device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr)

    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``L_D``: the discriminator's weighted binary cross-entropy on ``features``."""
        assert self.discriminator is not None
        logits = self.discriminator(features).squeeze(1)
        weight = torch.tensor(self.pos_weight, device=features.device)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)

    def __call__(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if self.discriminator is None:
            self._build(features.shape[1], features.device)
        assert self.optimizer is not None
        keep = self.compared[index.cpu()].to(features.device)
        if not bool(keep.any()):  # no sample of the poisons' classes in this batch
            return features.sum() * 0.0
        features = features[keep]
        target = self.poisoned[index.cpu()].to(features.device)[keep]
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(features.detach(), target).backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)  # the model's backward below must not feed D
        if self.adversary == "confuse":  # push D towards 1/2 on every sample: a bounded term
            return self.strength * self.loss(features, torch.full_like(target, 0.5))
        return -self.strength * self.loss(features, target)
