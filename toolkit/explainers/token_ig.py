"""Integrated gradients of tokens: Captum's layer variant on the token embeddings.

Sundararajan, Taly & Yan, ICML 2017. Token ids are discrete, so the path runs between
embeddings: from the baseline sentence's embedding ``e(b)`` (each ordinary token replaced
by the padding token, the special tokens ``[CLS]``/``[SEP]`` kept, as in Captum's BERT
tutorial) to the sentence's ``e(x)``. A token's attribution is the sum over its embedding
dimensions of

    (e(x) - e(b)) * integral_0^1 d f_c(e(b) + a (e(x) - e(b))) / d e  da

where ``f_c`` is the target class's logit. Completeness: the attributions sum to
``f_c(x) - f_c(b)``; the gap Captum reports (its convergence delta, from the
Gauss-Legendre rule with ``n_steps`` points) is kept with the baseline's prediction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from toolkit.data.inputs import trim
from toolkit.errors import UsageError
from toolkit.modelstate import frozen


def baseline_ids(input_ids: torch.Tensor, special: torch.Tensor, pad_id: int) -> torch.Tensor:
    """``input_ids`` with every token that is not special replaced by ``pad_id``."""
    return torch.where(torch.isin(input_ids, special), input_ids, torch.full_like(input_ids, pad_id))


def token_integrated_gradients(
    model: nn.Module,
    inputs: Mapping[str, torch.Tensor],
    targets: torch.Tensor,
    *,
    n_steps: int,
    tokenizer: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attributions ``(N, L)`` (zero on padding), the completeness gaps ``(N,)`` and the
    baseline sentences' probabilities of the target class ``(N,)``."""
    from captum.attr import LayerIntegratedGradients

    embeddings = getattr(model, "embeddings", None)
    if not callable(embeddings):
        raise UsageError("integrated_gradients on text needs a model with embeddings() (model hf_text)")
    device = next(model.parameters()).device
    width = int(inputs["input_ids"].shape[1])
    batch = {k: v.to(device) for k, v in trim(inputs).items()}
    ids, mask = batch["input_ids"], batch["attention_mask"]
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    reference = baseline_ids(ids, special, int(pad))
    targets = targets.to(device)

    def forward(token_ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        return model({"input_ids": token_ids, "attention_mask": attention})

    with frozen(model):
        method = LayerIntegratedGradients(forward, embeddings())
        attr, delta = method.attribute(
            ids, baselines=reference, additional_forward_args=(mask,), target=targets,
            n_steps=n_steps, return_convergence_delta=True,
        )  # fmt: skip
        with torch.no_grad():
            base = torch.softmax(forward(reference, mask), dim=1).gather(1, targets[:, None])[:, 0]
    scores = attr.sum(dim=-1).detach() * mask
    out = torch.zeros(ids.shape[0], width, dtype=torch.float32)
    out[:, : scores.shape[1]] = scores.float().cpu()
    return out, delta.detach().abs().float().cpu(), base.float().cpu()
