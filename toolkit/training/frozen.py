"""The frozen-feature path: training only the neck and head of a classifier on cached features.

A classifier built with ``freeze = "backbone"`` trains no parameter of its normalization
and backbone (:func:`frozen_backbone`); they stay in eval mode while the rest trains
(:func:`train_mode`). Without augmentation or a batch defense the backbone's output is a
fixed function of each input, so the training loop computes it once per split
(:func:`backbone_features`) and runs its epochs on the trainable end alone (:class:`Tail`):
the same steps, shuffles and numbers as a full forward pass each epoch (up to
floating-point rounding), at the cost of one pass over the data.

Example:
    >>> import torch
    >>> from toolkit.data.digits import load
    >>> from toolkit.models.small_cnn import build
    >>> data = load(0)
    >>> model = build(data.info, channels=[4], hidden=8, head=[8], freeze="backbone")
    >>> frozen_backbone(model), frozen_backbone(build(data.info, channels=[4], hidden=8))
    (True, False)
    >>> tail, features, held = feature_splits(model, data.train, None, torch.device("cpu"), 256)
    >>> features.x.shape[0] == len(data.train), held is None
    (True, True)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.data.base import Split
from toolkit.data.inputs import batches, to_device, to_model_input
from toolkit.modelstate import eval_mode


def frozen_backbone(model: nn.Module) -> bool:
    """Whether ``model`` is a classifier whose normalization and backbone train no parameter
    (``freeze = "backbone"``): only its neck and head learn."""
    parts = [getattr(model, name, None) for name in ("normalize", "backbone", "neck", "head")]
    if any(part is None for part in parts) or not hasattr(model, "forward_features"):
        return False
    normalize, backbone = parts[0], parts[1]
    assert isinstance(normalize, nn.Module) and isinstance(backbone, nn.Module)
    return not any(p.requires_grad for p in (*normalize.parameters(), *backbone.parameters()))


def train_mode(model: nn.Module, frozen: bool) -> None:
    """Train mode, except for a frozen backbone: it stays in eval mode (batch norm too)."""
    model.train()
    if frozen:
        model.normalize.eval()  # type: ignore[union-attr]
        model.backbone.eval()  # type: ignore[union-attr]


class Tail(nn.Module):
    """The trainable end of a classifier with a frozen backbone: ``head(neck(features))``.

    Args:
        neck: the classifier's neck (its layers between the backbone and the head).
        head: the classifier's last layer.
    """

    def __init__(self, neck: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.neck, self.head = neck, head

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        """The penultimate features: the neck's output."""
        return self.neck(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The logits of backbone ``features``."""
        return self.head(self.neck(features))


def backbone_features(model: nn.Module, x: Any, device: torch.device, batch_size: int) -> torch.Tensor:
    """``backbone(normalize(x))`` of a classifier in eval mode, batch by batch (stored inputs
    ``x``): what a frozen backbone gives its neck and head."""
    parts = []
    with eval_mode(model), torch.inference_mode():
        for _, xb in batches(x, batch_size):
            xb = to_model_input(to_device(xb, device))
            parts.append(model.backbone(model.normalize(xb)))  # type: ignore[operator]
    return torch.cat(parts).clone()  # out of inference mode, so autograd may use it


def feature_splits(
    model: nn.Module, data: Split, test: Split | None, device: torch.device, batch_size: int
) -> tuple[Tail, Split, Split | None]:
    """What the epochs of a classifier with a frozen backbone run on: its :class:`Tail`, and
    the backbone's features of the training split and of ``test`` (``None`` without a
    non-empty test split), computed once in batches of ``batch_size``."""
    tail = Tail(model.neck, model.head)  # type: ignore[arg-type]
    features = Split(backbone_features(model, data.x, device, batch_size), data.y)
    held = None
    if test is not None and len(test) > 0:
        held = Split(backbone_features(model, test.x, device, batch_size), test.y)
    return tail, features, held
