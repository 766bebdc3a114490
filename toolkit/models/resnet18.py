"""ResNet-18 (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016),
torchvision's implementation, with the CIFAR stem or the ImageNet stem.

- ``stem = "cifar"`` (default): the first convolution is 3x3 with stride 1 and there is no
  max-pool, the usual choice for 32x32 images (the 7x7/stride-2 stem and the pool would
  shrink them to 8x8 before the first block).
- ``stem = "imagenet"``: torchvision's 7x7 stride-2 convolution and 3x3 max-pool.

The 512-wide pooled output is the feature vector; the head is a linear layer. Inputs are
images in ``[0, 1]``; the model normalizes them with the data's channel statistics.
``pretrained = true`` loads torchvision's ImageNet weights (``IMAGENET1K_V1``) from the
local torch hub cache and fails clearly when they are not there (no silent random
weights); with the CIFAR stem the first convolution stays freshly initialized, and the
head always does. ``freeze = "backbone"`` trains only the head (and, with ImageNet weights,
a replaced first convolution, which has none); a backbone with nothing left to train stays
in eval mode, batch-norm statistics included, and its features are computed once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import UsageError
from toolkit.models.base import Classifier, head_layers, normalizer
from toolkit.models.weights import apply_weights, files_key, given

WEIGHTS_FILE = "resnet18-f37072fd.pth"


def weights_path() -> Path:
    """Where torchvision keeps the ImageNet weights of ResNet-18 once downloaded."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def build(
    info: DataInfo,
    *,
    stem: Literal["cifar", "imagenet"] = "cifar",
    pretrained: bool = False,
    freeze: Literal["none", "backbone"] = "none",
    head: list[Annotated[int, Field(ge=1)]] = [],  # noqa: B006 - read-only default
    weights: str | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
) -> Classifier:
    """Build ResNet-18 for image data described by ``info``.

    Args:
        info: the data's description; its modality must be ``"image"``.
        stem: ``"cifar"`` (3x3 first convolution, no max-pool; default) or ``"imagenet"``.
        pretrained: start from torchvision's ImageNet weights (must be in the local cache).
        freeze: ``"backbone"`` trains only the head (default ``"none"``).
        head: hidden sizes of fully-connected layers before the output layer (default none;
            ``[256]`` gives the two fully-connected layers of the backdoor reference
            protocol); their output becomes the features.
        weights: a file of trained weights (safetensors, or a ``state_dict`` read with
            ``weights_only``) to start from (:mod:`toolkit.models.weights`); without
            ``[train]`` in the recipe the model is evaluated as given.
        mean: the input normalization the weights were trained with, per channel
            (default: the data's statistics, or the file's ``normalize.*``).
        std: its standard deviations (with ``mean``).
        class_names: the classes of the weights' outputs, in order; checked against the data's.

    Example:
        >>> from toolkit.data.synthetic import load
        >>> model = build(load(0, modality="image").info)
        >>> model.head.in_features
        512
    """
    from torchvision.models import resnet18

    if info.modality != "image" or len(info.tensor_shape) != 3:
        raise UsageError(f"model resnet18 needs image data, but '{info.name}' is {info.modality}")
    channels = info.tensor_shape[0]
    net = resnet18(weights=None)
    if pretrained:
        net.load_state_dict(_imagenet_weights())
    _set_stem(net, stem, channels)
    backbone = nn.Sequential(
        net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4,
        net.avgpool, nn.Flatten(),
    )  # fmt: skip
    if freeze == "backbone":  # a replaced first convolution has no pretrained weights: it trains
        _freeze(backbone, train=net.conv1 if pretrained and (stem == "cifar" or channels != 3) else None)
    neck, last = head_layers(512, head, info.num_classes)
    if neck is None:
        net.fc = last  # torchvision's key names (fc.*) then read into the head
    model = Classifier(backbone, last, normalizer(info, mean, std), neck)
    return apply_weights(
        model, weights, class_names=class_names, info=info, architecture="resnet18", plain=net
    )


build.files_key = files_key  # type: ignore[attr-defined]  # the weights file's digest enters the train key
build.given = given  # type: ignore[attr-defined]  # with weights, a recipe without [train] trains nothing


def _set_stem(net: nn.Module, stem: str, channels: int) -> None:
    """The CIFAR stem (a 3x3 first convolution, no max-pool), or the ImageNet one with a
    first convolution for ``channels`` other than 3."""
    if stem == "cifar":
        net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif channels != 3:
        net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)


def _freeze(backbone: nn.Module, *, train: nn.Module | None) -> None:
    """Freeze ``backbone``'s parameters, except those of ``train``."""
    for p in backbone.parameters():
        p.requires_grad_(False)
    for p in train.parameters() if train is not None else ():
        p.requires_grad_(True)


def _imagenet_weights() -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of ResNet-18 from the local torch hub cache (never a
    download); a usage error saying how to fetch them when they are not there."""
    path = weights_path()
    if not path.is_file():
        raise UsageError(
            f"model.pretrained: torchvision's ResNet-18 weights are not in the local cache ({path}). "
            'Download them once while online (python -c "import torchvision; '
            "torchvision.models.resnet18(weights='IMAGENET1K_V1')\"), or set pretrained = false."
        )
    return torch.load(path, map_location="cpu", weights_only=True)
