"""The model-randomization sanity check of explanations (Adebayo et al., "Sanity Checks for
Saliency Maps", NeurIPS 2018).

An explanation method that explains the model must give other explanations when the
model's weights are replaced by random ones. The check re-initializes every layer of a copy
of the model (full randomization: each module's ``reset_parameters``, seeded), explains the
same inputs for the same targets with both models and reports, per input, the Spearman rank
correlation between the two attributions:

    rho_i = Spearman(a_i(trained), a_i(random))

over the input's positions (pixels, features or tokens; padding dropped), on the signed
attributions (the paper's "no absolute value" variant) or their absolute values (its
"absolute" variant, as saliency maps are drawn). A mean ``|rho|`` near 0 means the
explanations depend on the weights; near 1, they would look the same for any model (an
edge detector of the input, say). The absolute variant of a method that multiplies by the
input (gradient x input, integrated gradients from a black baseline) keeps the input's
outline whatever the weights, as the paper shows: the signed variant is the test of such
methods. An input whose attributions are constant (all zero) has no rank correlation
(``nan``).

Example:
    >>> import numpy as np
    >>> rank_correlation(np.array([0.1, 0.5, 0.9]), np.array([1.0, 2.0, 3.0]))
    1.0
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["randomized", "rank_correlation", "rank_correlations", "rows"]


def randomized(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer's parameters re-initialized (full randomization)."""
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in twin.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    return twin.eval()


def rank_correlation(a: Any, b: Any) -> float:
    """Spearman's rank correlation of two equal-length vectors; ``nan`` when either is constant."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def rows(maps: torch.Tensor, inputs: Any, *, absolute: bool) -> list[np.ndarray]:
    """Each input's attributions as one vector: token inputs drop their padding, other inputs
    are flattened; absolute values when ``absolute``."""
    values = maps.detach().cpu().double()
    values = values.abs() if absolute else values
    if isinstance(inputs, Mapping) and "attention_mask" in inputs:
        n = inputs["attention_mask"].sum(dim=1).tolist()
        return [values[i, : int(k)].numpy() for i, k in enumerate(n)]
    return [row.numpy() for row in values.reshape(len(values), -1)]


def rank_correlations(trained: Sequence[np.ndarray], random: Sequence[np.ndarray]) -> list[float]:
    """``rank_correlation`` of each input's pair of attribution vectors."""
    return [rank_correlation(a, b) for a, b in zip(trained, random, strict=True)]
