"""STRIP: a triggered input keeps its prediction when clean images are blended into it.

Gao, Xu, Wang, Chen, Ranasinghe & Nepal, "STRIP: A Defence Against Trojan Attacks on Deep
Neural Networks", ACSAC 2019.

For an input ``x``, ``n`` clean images ``b_1..b_n`` drawn from the fitting split are
superimposed, ``x_j = clip(x + b_j, 0, 1)`` (the paper's saturating sum; ``blend = "mix"``
gives ``alpha * x + (1 - alpha) * b_j``, IBM ART's), and the entropy of each prediction is
averaged::

    score(x) = (1 / n) * sum_j  -sum_k p_k(x_j) log2 p_k(x_j)

A clean input's prediction follows the blended-in images (high entropy); a triggered one
stays with the attacker's class whatever is blended in (low entropy). Higher means more
clean, as for every detector. Defaults: ``n`` 20 (IBM ART's default; the paper uses 100),
``blend`` ``add``, the clean pool a random 1,000 of the fitting split's images,
seeded. ART's ``STRIP`` averages the entropy of each class's column over the ``n``
predictions instead of each prediction's entropy over the classes; this follows the paper.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.data.inputs import num_samples, take, to_model_input
from toolkit.errors import require_fitted
from toolkit.modelstate import eval_mode
from toolkit.outputs import Outputs


class STRIP:
    """STRIP (Gao et al., ACSAC 2019): mean prediction entropy of blended copies.

    Fit it on clean data (the ``backdoor`` task fits it on the clean training split).

    Args:
        n: clean images blended into each input (default 20).
        blend: ``add`` (default: the saturating sum of the paper) or ``mix``.
        alpha: weight of the input in a ``mix`` (default 0.5).
        pool: clean images kept from the fitting split to draw from (default 1000).
        seed: seed of the draws (default 0).
    """

    modalities = ("image",)

    def __init__(
        self,
        *,
        n: Annotated[int, Field(ge=1)] = 20,
        blend: Literal["add", "mix"] = "add",
        alpha: Annotated[float, Field(gt=0, lt=1)] = 0.5,
        pool: Annotated[int, Field(ge=1)] = 1000,
        seed: int = 0,
    ) -> None:
        self.n, self.blend, self.alpha, self.pool, self.seed = n, blend, alpha, pool, seed
        self.clean_: torch.Tensor | None = None

    def fit(self, model: nn.Module, train: Outputs) -> STRIP:
        g = torch.Generator().manual_seed(self.seed)
        total = num_samples(train.x)
        index = torch.randperm(total, generator=g)[: self.pool]
        images = to_model_input(take(train.x, index))
        if not isinstance(images, torch.Tensor):
            raise ValueError("strip blends images: it needs inputs that are one tensor")
        self.clean_ = images
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        require_fitted(self, "clean_")
        assert self.clean_ is not None
        g = torch.Generator().manual_seed(self.seed + 1)
        scores = []
        with eval_mode(model), torch.inference_mode():
            for _, batch in x.batches(max(1, 4096 // self.n)):  # n blends of each: 4096 images a pass
                if not isinstance(batch, torch.Tensor):
                    raise ValueError("strip blends images: it needs inputs that are one tensor")
                draws = torch.randint(len(self.clean_), (len(batch), self.n), generator=g)
                background = self.clean_[draws.flatten()].to(batch.device)
                copies = batch.repeat_interleave(self.n, dim=0)
                if self.blend == "add":
                    mixed = (copies + background).clamp(0, 1)
                else:
                    mixed = self.alpha * copies + (1 - self.alpha) * background
                p = torch.softmax(model(mixed).float(), dim=1)
                entropy = -(p * torch.log2(p.clamp_min(1e-12))).sum(dim=1)
                scores.append(entropy.view(len(batch), self.n).mean(dim=1).cpu())
        return torch.cat(scores) if scores else torch.empty(0)
