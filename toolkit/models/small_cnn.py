"""A small convolutional network for small images (digits, CIFAR-sized inputs).

Each stage is ``Conv3x3 -> BatchNorm -> ReLU -> MaxPool2`` (pooling only while the image is
at least 4 pixels wide); then global average pooling, ``Linear(hidden) -> ReLU`` (the
features) and the linear head. Any input size and channel count.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import UsageError
from toolkit.models.base import Classifier, freeze_backbone, head_layers, normalizer
from toolkit.models.weights import apply_weights, files_key, given


def build(
    info: DataInfo,
    *,
    channels: list[Annotated[int, Field(ge=1)]] = [32, 64],  # noqa: B006 - read-only default
    hidden: Annotated[int, Field(ge=1)] = 128,
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,
    head: list[Annotated[int, Field(ge=1)]] = [],  # noqa: B006 - read-only default
    freeze: Literal["none", "backbone"] = "none",
    weights: str | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
) -> Classifier:
    """Build the CNN for image data described by ``info``.

    Args:
        info: the data's description; its modality must be ``"image"``.
        channels: output channels of each convolution stage (default ``[32, 64]``).
        hidden: width of the feature layer (default 128).
        dropout: dropout before the head (default 0).
        head: hidden sizes of fully-connected layers before the output layer (default none:
            one linear layer); their output becomes the features.
        freeze: ``"backbone"`` trains only the head (with ``[train] init_from``, say).
        weights: a file of trained weights (safetensors, or a ``state_dict`` read with
            ``weights_only``) to start from (:mod:`toolkit.models.weights`); without
            ``[train]`` in the recipe the model is evaluated as given.
        mean: the input normalization the weights were trained with, per channel
            (default: the data's statistics, or the file's ``normalize.*``).
        std: its standard deviations (with ``mean``).
        class_names: the classes of the weights' outputs, in order; checked against the data's.

    Example:
        >>> from toolkit.data.digits import load
        >>> build(load(0).info).head.out_features
        10
    """
    if info.modality != "image" or len(info.tensor_shape) != 3:
        raise UsageError(
            f"model small_cnn needs image data, but '{info.name}' is {info.modality}; use model 'mlp' instead"
        )
    in_ch, size, _ = info.tensor_shape
    layers: list[nn.Module] = []
    for ch in channels:
        layers += [nn.Conv2d(in_ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
        if size >= 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        in_ch = ch
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, hidden), nn.ReLU()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    neck, last = head_layers(hidden, head, info.num_classes)
    model = Classifier(nn.Sequential(*layers), last, normalizer(info, mean, std), neck)
    apply_weights(model, weights, class_names=class_names, info=info, architecture="small_cnn")
    return freeze_backbone(model) if freeze == "backbone" else model


build.files_key = files_key  # type: ignore[attr-defined]  # the weights file's digest enters the train key
build.given = given  # type: ignore[attr-defined]  # with weights, a recipe without [train] trains nothing
