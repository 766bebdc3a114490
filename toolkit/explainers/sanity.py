"""The model-randomization sanity check of explanations (Adebayo et al., "Sanity Checks for
Saliency Maps", NeurIPS 2018).

An explanation method that explains the model must give other explanations when the
model's weights are replaced by random ones. The check re-initializes every weight of the
model in place (full randomization, seeded: each module's ``reset_parameters``, and for a
parameter no such method reaches, as in a TorchScript or ``torch.export`` program, a draw
from ``N(0, 1 / fan_in)`` for a matrix or kernel and from its own tensor's mean and spread
for a vector), explains the same inputs for the same targets, and restores the weights
(:func:`randomized_weights`). It reports, per input, the Spearman rank correlation between
the trained and the randomized model's attributions:

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

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["randomized_weights", "rank_correlation", "rank_correlations", "rows"]


@contextlib.contextmanager
def randomized_weights(model: nn.Module, seed: int) -> Iterator[int]:
    """Inside the block, ``model``'s weights are re-initialized (seeded, the same for the same
    seed); after it, even on an error, they and every buffer (running statistics) are the
    trained ones again. Yields how many
    parameter tensors changed (0: the model has none the randomization reaches).

    No copy of the model is made, so compiled programs (TorchScript, ``torch.export``) that
    cannot be deep-copied are randomized too. The global random state is left as it was.
    """
    params = [p for p in model.parameters() if p.is_floating_point()]
    saved = [p.detach().clone() for p in params]
    # reset_parameters resets buffers too (a batch norm's running statistics): keep them all
    buffers = list(model.buffers())
    kept = [b.detach().clone() for b in buffers]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            for module in model.modules():
                reset = getattr(module, "reset_parameters", None)
                if callable(reset):
                    reset()
            generator = torch.Generator().manual_seed(seed)
            for p, old in zip(params, saved, strict=True):
                if torch.equal(p, old):  # no reset_parameters reached it
                    p.copy_(_draw(old, generator))
        yield sum(not torch.equal(p, old) for p, old in zip(params, saved, strict=True))
    finally:
        with torch.no_grad():
            for t, old in zip([*params, *buffers], [*saved, *kept], strict=True):
                t.copy_(old)


def _draw(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random values for a parameter: ``N(0, 1 / fan_in)`` for a matrix or kernel, its own
    mean and spread for a vector (a bias, a norm's scale)."""
    noise = torch.randn(like.shape, generator=generator, dtype=torch.float32)
    if like.dim() >= 2:
        fan_in = max(like[0].numel(), 1)
        return (noise / fan_in**0.5).to(like)
    spread = float(like.float().std()) if like.numel() > 1 else 0.0
    return (float(like.float().mean()) + noise * (spread or 0.1)).to(like)


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
