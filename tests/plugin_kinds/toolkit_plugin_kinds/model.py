"""A bag-of-tokens classifier on ``{"tokens", "mask"}`` inputs: the masked mean of token
embeddings, a hidden layer (the features) and a linear head."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from toolkit.data.base import DataInfo


class TokenBag(nn.Module):
    """``head(relu(W mean_{mask}(embed(tokens))))``; ``forward_features`` gives the hidden layer."""

    def __init__(self, vocab: int, dim: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.backbone = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def forward_features(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        mask = x["mask"].to(self.embed.weight.dtype).unsqueeze(-1)
        pooled = (self.embed(x["tokens"]) * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
        return self.backbone(pooled)

    def forward(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.forward_features(x))


def build(info: DataInfo, *, dim: int = 16, hidden: int = 16, vocab: int = 0) -> TokenBag:
    """The bag-of-tokens model for token data.

    Args:
        info: the data's description: inputs ``tokens`` and ``mask``, token ids bounded by
            the input domain's ``high``.
        dim: embedding width (default 16).
        hidden: width of the feature layer (default 16).
        vocab: vocabulary size (default: from the input domain).
    """
    shape = info.input_shape
    if not isinstance(shape, Mapping) or set(shape) != {"tokens", "mask"}:
        raise ValueError(f"model kinds_bag needs token data with inputs tokens and mask, not {shape}")
    high = info.input_domain.high
    size = vocab or (int(high) + 1 if isinstance(high, int | float) else 0)
    if size <= 0:
        raise ValueError("model kinds_bag: the data declares no vocabulary size; set vocab")
    return TokenBag(size, dim, hidden, info.num_classes)


#: The conformance checks run the model on the plugin's own token data.
build.example_data = {"name": "toolkit-plugin-kinds:kinds_tokens", "n_per_class": 20}  # type: ignore[attr-defined]
