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

from pydantic import Field

from toolkit.attacks.torchattacks_adapter import TorchAttacks
from toolkit.errors import UsageError
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
        label = {"linf": "Linf", "l2": "L2"}[norm]
        params = {"eps": value, "norm": label, "version": version, "n_classes": 10, "seed": seed}
        super().__init__(attack="AutoAttack", params=params, seed=seed)
        self.eps, self.norm, self.version = value, norm, version

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
        self.params["n_classes"] = info.num_classes
        return self
