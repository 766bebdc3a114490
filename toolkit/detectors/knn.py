"""Deep nearest neighbours on normalized penultimate features.

Sun, Ming, Zhu & Li, "Out-of-Distribution Detection with Deep Nearest Neighbors", ICML 2022.

Fit: the training features, each normalized to unit length, ``u = z / ||z||``. Score:

    score(x) = -|| u(x) - u_(k) ||_2

the negative distance to the ``k``-th nearest normalized training feature (default
``k = 50``, the paper's choice for CIFAR-10). Higher means more in-distribution.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from toolkit.errors import fitted
from toolkit.outputs import Outputs


def knn_score(features: torch.Tensor, bank: torch.Tensor, k: int, *, chunk: int = 2048) -> torch.Tensor:
    """Negative distance of each normalized feature to its ``k``-th nearest row of ``bank``."""
    u = F.normalize(features.float(), dim=1)
    if k > len(bank):
        raise ValueError(f"k = {k} exceeds the {len(bank)} training samples")
    out = []
    for start in range(0, len(u), chunk):
        d = torch.cdist(u[start : start + chunk], bank)
        out.append(-d.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(out) if out else torch.zeros(0)


class KNN:
    """Deep k-nearest-neighbour detector (Sun et al., ICML 2022).

    Args:
        k: which neighbour's distance is the score (default 50).

    Example:
        >>> import torch
        >>> bank = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
        >>> knn_score(torch.tensor([[2.0, 0.0]]), bank, k=1).tolist()
        [-0.0]
    """

    def __init__(self, *, k: Annotated[int, Field(ge=1)] = 50) -> None:
        self.k = k
        self.bank: torch.Tensor | None = None

    def fit(self, model: nn.Module, train: Outputs) -> KNN:
        """Keep the normalized training features."""
        self.bank = F.normalize(train.features.float(), dim=1)
        if self.k > len(self.bank):
            from toolkit.errors import UsageError

            raise UsageError(f"detectors knn: k = {self.k} exceeds the {len(self.bank)} training samples")
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Negative distance to the k-th nearest training feature."""
        return knn_score(x.features, fitted(self, "bank"), self.k)
