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
from toolkit.errors import UsageError


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
    """``head(neck(backbone(normalize(x))))``, with the penultimate features exposed for
    detectors.

    ``neck`` holds the hidden fully-connected layers of a deeper head (``head = [256]`` in a
    recipe): the features are its output, so detectors see what the trained layers learned
    even when the backbone is frozen. Without one it is the identity.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        normalize: nn.Module | None = None,
        neck: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.backbone = backbone
        self.neck = neck if neck is not None else nn.Identity()
        self.head = head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, shape ``(N, F)``."""
        return self.neck(self.backbone(self.normalize(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(N, num_classes)``."""
        return self.head(self.forward_features(x))


def normalizer(
    info: DataInfo, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> nn.Module | None:
    """The normalization layer: ``mean`` and ``std`` when the recipe gives them (the input
    convention a model was trained with elsewhere), else the data's statistics (none if it
    has none).

    Raises:
        UsageError: only one of ``mean`` and ``std``, a length other than the data's
            channels (features), or a standard deviation that is not positive.
    """
    if mean is not None or std is not None:
        width = info.tensor_shape[0] if info.tensor_shape else 0
        if mean is None or std is None or len(mean) != width or len(std) != width:
            raise UsageError(
                "model.mean and model.std: give both, one value per "
                f"{'channel' if info.modality == 'image' else 'feature'} "
                f"of '{info.name}' ({width})"
            )
        if min(std) <= 0:
            raise UsageError("model.std: every standard deviation must be positive")
        return Normalize(mean, std, channels_first=info.modality == "image")
    if info.mean is None or info.std is None:
        return None
    return Normalize(info.mean, info.std, channels_first=info.modality == "image")


def head_layers(width: int, hidden: Sequence[int], classes: int) -> tuple[nn.Module | None, nn.Linear]:
    """The neck (``Linear -> ReLU`` per hidden size) and the final linear layer of a head
    on ``width`` features; no neck without hidden sizes."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return (nn.Sequential(*layers) if layers else None), nn.Linear(width, classes)


def freeze_backbone(model: Classifier) -> Classifier:
    """Stop gradients to the normalization and the backbone: only the neck and head train.

    The training loop keeps a frozen backbone in eval mode (its batch-norm statistics stay
    too) and, without augmentation, computes its features once (:mod:`toolkit.training`).
    """
    for p in (*model.normalize.parameters(), *model.backbone.parameters()):
        p.requires_grad_(False)
    return model
