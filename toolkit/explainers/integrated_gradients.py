"""Integrated gradients, through Captum.

Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.

    IG_i(x) = (x_i - b_i) * integral_0^1 d f_t(b + a (x - b)) / d x_i da

with a black baseline ``b = 0`` and ``n_steps`` (default 32) points of the
Gauss-Legendre rule, as ``captum.attr.IntegratedGradients`` computes it. Attributions have
the input's shape; the maps sum (over pixels and channels) to ``f_t(x) - f_t(b)``.

On text (token ids), the path runs through the token embeddings from a baseline of padding
tokens (:mod:`toolkit.explainers.token_ig`): one attribution per token, ``(N, L)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from toolkit.explainers.captum_adapter import Captum
from toolkit.explainers.text import Complete, TokenExplainer


class IntegratedGradients(Complete, TokenExplainer):
    """Integrated gradients (Sundararajan et al., ICML 2017) via Captum.

    Args:
        n_steps: integration points (default 32).
    """

    modalities: ClassVar[tuple[str, ...]] = ("image", "tabular", "text")

    def __init__(self, *, n_steps: Annotated[int, Field(ge=2)] = 32) -> None:
        self.n_steps = n_steps
        #: After explaining text: ``|sum(attributions) - (f_c(x) - f_c(b))|`` per sentence and
        #: the baseline sentence's probability of the target class.
        self.completeness_: torch.Tensor | None = None
        self.base_: torch.Tensor | None = None

    def explain(self, model: nn.Module, inputs: Any, targets: torch.Tensor) -> torch.Tensor:
        """Integrated gradients of each input for its target class, from a black baseline
        (a padding-token baseline on the token embeddings for text)."""
        if isinstance(inputs, Mapping):
            from toolkit.explainers.token_ig import token_integrated_gradients

            tokenizer = self.tokenizer(model, "integrated_gradients")
            out, self.completeness_, self.base_ = token_integrated_gradients(
                model, inputs, targets, n_steps=self.n_steps, tokenizer=tokenizer
            )
            return out
        return Captum(method="IntegratedGradients", params={"n_steps": self.n_steps}).explain(
            model, inputs, targets
        )
