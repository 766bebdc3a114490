"""Two attacks: one gradient-sign step (evasion) and a first-token backdoor (poisoning)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.data.base import DataBundle, DataInfo, Split
from toolkit.data.inputs import Inputs
from toolkit.protocols import EvasionAttack, PoisoningAttack


class SignStep(EvasionAttack):
    """One step of size ``eps`` along the sign of the loss gradient, clamped to the data's
    input domain: ``x_adv = clamp_D(x + eps * sign(grad_x CE(f(x), y)))``.

    Args:
        eps: the L-infinity budget (default 0.05).
    """

    budget = "eps"

    def __init__(self, *, eps: float = 0.05) -> None:
        self.eps = eps

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()  # no batch-norm update, no dropout
        try:
            with torch.enable_grad():
                x_var = x.detach().clone().requires_grad_(True)
                loss = F.cross_entropy(model(x_var), y)
                (grad,) = torch.autograd.grad(loss, x_var)  # no gradient reaches the weights
        finally:
            model.train(was_training)
        return self.domain.clamp(x.detach() + self.eps * grad.sign())


class FirstTokenTrigger(PoisoningAttack):
    """A backdoor in token data: the first token of a fraction of the training sequences
    (drawn among those not of the target class) becomes the trigger token, and their label
    the target class. ``trigger(x)`` sets the first token of test sequences.

    Args:
        fraction: share of the training samples poisoned (default 0.1).
        target: the class the trigger leads to (default 0).
        token: the trigger token id (default: the largest id of the data's input domain,
            which the plugin's token data never uses).
    """

    modalities = ("text",)
    example_data: ClassVar[dict[str, Any]] = {"name": "toolkit-plugin-kinds:kinds_tokens", "n_per_class": 20}

    def __init__(self, *, fraction: float = 0.1, target: int = 0, token: int | None = None) -> None:
        self.fraction = fraction
        self.target = target
        self.token = token

    def bind(self, info: DataInfo) -> FirstTokenTrigger:
        if self.token is None:
            high = info.input_domain.high
            if not isinstance(high, int | float):
                raise ValueError("attack kinds_first_token: the data bounds no token ids; set token")
            self.token = int(high)
        return self

    def _apply(self, x: Mapping[str, torch.Tensor], index: Any) -> dict[str, torch.Tensor]:
        out = {name: part.clone() for name, part in x.items()}
        out["tokens"][index, 0] = self.token
        out["mask"][index, 0] = 1
        return out

    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        train = bundle.train
        if not isinstance(train.x, Mapping):
            raise ValueError("attack kinds_first_token needs token data (inputs tokens and mask)")
        candidates = (train.y != self.target).nonzero().flatten()
        count = round(self.fraction * len(train))
        index = candidates[torch.randperm(len(candidates), generator=rng)[:count]].sort().values
        y = train.y.clone()
        y[index] = self.target
        poisoned = Split(self._apply(train.x, index), y, {k: v.clone() for k, v in train.groups.items()})
        return DataBundle(
            poisoned,
            bundle.test,
            bundle.info,
            bundle.ood,
            list(bundle.ood_class_names),
            {**bundle.extras, "poisoned": index},
        )

    def trigger(self, x: Inputs) -> Inputs:
        if not isinstance(x, Mapping):
            raise ValueError("attack kinds_first_token needs token data (inputs tokens and mask)")
        return self._apply(x, slice(None))
