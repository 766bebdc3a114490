"""The shape every toolkit classifier has: normalize, backbone (features), head (logits).

A model takes inputs in the data's natural range (images in ``[0, 1]``) and normalizes
inside, so attacks and explainers work in pixel space. ``forward_features`` returns the
penultimate features that feature-based detectors read; ``forward`` returns logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from toolkit.data.base import DataInfo


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel (images) or per feature (tabular)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float], *, channels_first: bool) -> None:
        super().__init__()
        shape = (1, -1, 1, 1) if channels_first else (1, -1)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """``head(backbone(normalize(x)))``, with the features exposed for detectors."""

    def __init__(self, backbone: nn.Module, head: nn.Module, normalize: nn.Module | None = None) -> None:
        super().__init__()
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.backbone = backbone
        self.head = head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, shape ``(N, F)``."""
        return self.backbone(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(N, num_classes)``."""
        return self.head(self.forward_features(x))


def normalizer(info: DataInfo) -> nn.Module | None:
    """The normalization layer the data's statistics call for (none if it has none)."""
    if info.mean is None or info.std is None:
        return None
    return Normalize(info.mean, info.std, channels_first=info.modality == "image")
