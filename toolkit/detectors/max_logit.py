"""Maximum logit.

Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt & Song, "Scaling
Out-of-Distribution Detection for Real-World Settings", ICML 2022.

    score(x) = max_k f_k(x)

with logits ``f(x)``. Needs no fitting. Higher means more in-distribution.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.outputs import Outputs


def max_logit_score(logits: torch.Tensor) -> torch.Tensor:
    """``max_k logits_k`` per row, shape ``(N,)``."""
    return logits.float().max(dim=1).values


class MaxLogit:
    """Maximum-logit detector (Hendrycks et al., ICML 2022); higher is more in-distribution.

    Example:
        >>> import torch
        >>> max_logit_score(torch.tensor([[1.0, 3.0], [-2.0, -1.0]])).tolist()
        [3.0, -1.0]
    """

    def fit(self, model: nn.Module, train: Outputs) -> MaxLogit:
        """The maximum logit needs no fitting."""
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Largest logit of each sample."""
        return max_logit_score(x.logits)
