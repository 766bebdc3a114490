"""Any attack of torchattacks, by class name, with its own parameters.

Kim, "Torchattacks: A PyTorch Repository for Adversarial Attacks", arXiv:2010.01950, 2020.

``attack = "PGD"``, ``params = {eps = "8/255", alpha = "2/255", steps = 10}`` builds
``torchattacks.PGD(model, **params)`` and calls it on inputs in ``[0, 1]`` (our models
normalize inside, so torchattacks' own normalization is not used). torchattacks clips
every result to ``[0, 1]``, so the adapter refuses data whose input domain is anything
else (use ``fgsm``, ``pgd`` or ``art`` there). Numeric strings such as ``"8/255"`` are
accepted in ``params``. The model's mode is restored afterwards.
Install with ``pip install 'trustworthy-ml-toolkit[attacks]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from toolkit.adapters import class_by_name
from toolkit.attacks.base import LibraryAttack
from toolkit.errors import UsageError
from toolkit.modelstate import frozen

if TYPE_CHECKING:
    from toolkit.data.base import DataInfo


def attack_class(name: str) -> Any:
    """torchattacks' attack class ``name``; an unknown name lists the available ones."""
    return class_by_name(
        "torchattacks",
        name,
        what="torchattacks has no attack",
        install="attack torchattacks needs torchattacks: pip install 'trustworthy-ml-toolkit[attacks]'",
        exclude=("Attack", "MultiAttack"),
    )


class TorchAttacks(LibraryAttack):
    """Adapter for a torchattacks attack.

    Args:
        attack: the class name in ``torchattacks`` (e.g. ``"PGD"``, ``"CW"``, ``"AutoAttack"``).
        params: its keyword arguments; the budget is ``eps`` for most attacks.
        seed: seeds torch's generator before the call (torchattacks draws random starts from it).
    """

    example_params: ClassVar[dict[str, Any]] = {"attack": "FGSM", "params": {"eps": 0.03}}
    library = "torchattacks"
    #: torchattacks clips to [0, 1]: images only (validate refuses it on other data).
    modalities = ("image",)

    def bind(self, info: DataInfo) -> TorchAttacks:
        """torchattacks works in ``[0, 1]`` only: other input domains are refused."""
        if not info.input_domain.is_unit:
            raise UsageError(
                f"attack torchattacks: torchattacks clips inputs to [0, 1], but the data '{info.name}' "
                f"has the input domain {info.input_domain.describe()}; use fgsm, pgd or art instead"
            )
        self.domain = info.input_domain
        return self

    def make(self, model: nn.Module) -> Any:
        """The torchattacks attack on ``model`` (a usage error for parameters it rejects)."""
        cls = attack_class(self.attack)
        try:
            return cls(model, **self.params)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"attacks: torchattacks.{self.attack} rejected its parameters: {exc}") from exc

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial examples from torchattacks."""
        instance = self.make(model)
        devices = [x.device.index] if x.device.type == "cuda" else []
        # its own seeded random state, leaving the caller's (dropout, shuffling) untouched
        with frozen(model, eval_mode=False), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            return instance(x, y).detach()
