"""AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
of diverse parameter-free attacks", ICML 2020), the standard version that RobustBench reports:
APGD-CE, APGD-T, FAB-T and Square, each run on the samples the previous ones left robust.

Through torchattacks' implementation (``torchattacks.AutoAttack``) on inputs in ``[0, 1]``
(images). The customary budgets are the defaults: ``eps = 8/255`` for ``norm = "linf"``
and ``0.5`` for ``"l2"`` (CIFAR-10 in RobustBench). An evasion recipe with an ``autoattack``
entry takes its robust accuracy as the headline number (``metrics.headline``).
Install with ``pip install 'trustworthy-ml-toolkit[attacks]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.attacks.torchattacks_adapter import TorchAttacks, attack_class
from toolkit.errors import UsageError
from toolkit.modelstate import frozen
from toolkit.params import to_number

if TYPE_CHECKING:
    from toolkit.data.base import DataInfo

#: The customary budget of each norm (RobustBench, CIFAR-10).
DEFAULT_EPS = {"linf": 8 / 255, "l2": 0.5}


class AutoAttack(TorchAttacks):
    """AutoAttack, standard version, through torchattacks.

    Args:
        eps: the budget (default 8/255 for L-inf, 0.5 for L2); ``"8/255"`` is accepted.
        norm: ``"linf"`` (default) or ``"l2"``.
        version: ``"standard"`` (default: APGD-CE, APGD-T, FAB-T, Square), ``"plus"`` or
            ``"rand"`` (for randomized defenses).
        seed: seeds the attacks' random draws.
    """

    budget = "eps"
    example_params: ClassVar[dict[str, Any]] = {"eps": 0.03}
    #: The conformance checks' data: APGD-T's targeted DLR loss needs four classes or more.
    example_data: ClassVar[dict[str, Any]] = {"name": "digits"}

    def __init__(
        self,
        *,
        eps: Annotated[float, Field(ge=0)] | None = None,
        norm: Literal["linf", "l2"] = "linf",
        version: Literal["standard", "plus", "rand"] = "standard",
        seed: int = 0,
    ) -> None:
        value = DEFAULT_EPS[norm] if eps is None else float(to_number(eps))
        super().__init__(attack="AutoAttack", params={"eps": value}, seed=seed)
        self.eps, self.norm, self.version = value, norm, version
        self.classes = 10

    @classmethod
    def budget_in(cls, params: Mapping[str, Any]) -> float:
        """The budget these parameters give (the norm's customary one when ``eps`` is unset)."""
        eps = params.get("eps")
        return DEFAULT_EPS[params.get("norm", "linf")] if eps is None else float(to_number(eps))

    def bind(self, info: DataInfo) -> AutoAttack:
        """Images in ``[0, 1]`` only, of four classes or more (APGD-T's targeted DLR loss reads
        the fourth-largest logit); the number of classes for its targeted attacks."""
        super().bind(info)
        if info.num_classes < 4 and self.version != "rand":
            raise UsageError(
                f"attack autoattack: the {self.version} version's targeted attacks (APGD-T's DLR loss) need "
                f"four classes or more, and '{info.name}' has {info.num_classes}; use pgd with more steps"
            )
        self.classes = info.num_classes
        return self

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """AutoAttack's adversarial examples (the clean input where it finds none)."""
        cls = attack_class("AutoAttack")
        norm = {"linf": "Linf", "l2": "L2"}[self.norm]
        try:
            attack = cls(
                model, norm=norm, eps=self.eps, version=self.version, n_classes=self.classes, seed=self.seed
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(f"attacks: torchattacks.AutoAttack rejected its parameters: {exc}") from exc
        devices = [x.device.index] if x.device.type == "cuda" else []
        with frozen(model, eval_mode=True), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            return attack(x, y).detach()
