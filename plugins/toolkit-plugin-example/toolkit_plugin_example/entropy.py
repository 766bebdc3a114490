"""Predictive entropy as an OOD score.

The Shannon entropy of the softmax, ``H(p) = -sum_k p_k log p_k`` with
``p = softmax(f(x) / T)``, is a classic measure of a classifier's uncertainty (e.g.
Hendrycks & Gimpel, ICLR 2017, and the uncertainty baselines of Lakshminarayanan et al.,
NeurIPS 2017). The score is ``-H(p)``, so that, as for every toolkit detector, higher means
more in-distribution. Needs no fitting.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn


def entropy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``sum_k p_k log p_k`` (the negative entropy) of ``softmax(logits / T)``, shape ``(N,)``."""
    log_p = torch.log_softmax(logits.float() / temperature, dim=1)
    return (log_p.exp() * log_p).sum(dim=1)


class Entropy:
    """Negative predictive entropy; higher is more in-distribution.

    Args:
        temperature: softmax temperature ``T`` (default 1.0).

    Example:
        >>> import torch
        >>> round(entropy_score(torch.zeros(1, 2)).item(), 4)  # -log 2
        -0.6931
    """

    def __init__(self, *, temperature: Annotated[float, Field(gt=0)] = 1.0) -> None:
        self.temperature = temperature

    def fit(self, model: nn.Module, train: object) -> Entropy:
        """Entropy needs no fitting."""
        return self

    def score(self, model: nn.Module, x: object) -> torch.Tensor:
        """Negative entropy of the softmax of each sample's logits."""
        return entropy_score(x.logits, self.temperature)  # type: ignore[attr-defined]
