"""Spectral signatures: remove the training samples that stick out along a class's top
singular direction.

Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018.

For each class ``c``, with ``R_c`` the penultimate features of the samples labelled ``c``
(from the model trained on the possibly poisoned data) and ``v`` the top right singular
vector of ``R_c - mean(R_c)``::

    score_i = ((R_i - mean(R_c)) . v)^2

and the ``ceil(multiplier * expected_rate * |c|)`` highest scores of each class are flagged
(the paper removes 1.5 times the expected number of poisons). A fresh model is then trained
on the rest. Defaults: ``expected_rate`` 0.1, ``multiplier`` 1.5.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from toolkit.defenses.poison_scores import spectral_flags
from toolkit.outputs import Outputs
from toolkit.protocols import PoisonFilter


class SpectralSignature(PoisonFilter):
    """Spectral-signature filter (Tran et al., NeurIPS 2018).

    Args:
        expected_rate: the expected share of poisons among a class's samples, an upper bound
            (default 0.1).
        multiplier: flag this many times the expected count per class (default 1.5).
        layer: the representation read: ``features`` (default, the penultimate layer),
            ``logits``, or the output of any named layer such as ``backbone``
            (:mod:`toolkit.models.layers`).
    """

    def __init__(
        self,
        *,
        expected_rate: Annotated[float, Field(gt=0, lt=1)] = 0.1,
        multiplier: Annotated[float, Field(gt=0)] = 1.5,
        layer: str = "features",
    ) -> None:
        self.expected_rate, self.multiplier, self.layer = expected_rate, multiplier, layer
        self.layers = (layer,)

    def flag(self, model: nn.Module, train: Outputs) -> torch.Tensor:
        flags = spectral_flags(
            train.layer(self.layer).flatten(1).double().numpy(),
            train.labels().cpu().numpy(),
            expected_rate=self.expected_rate,
            multiplier=self.multiplier,
        )
        return torch.from_numpy(flags)
