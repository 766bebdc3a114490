"""Multi-layer perceptron on flattened inputs.

``x -> flatten -> [Linear -> activation -> Dropout] * len(hidden) -> Linear``; the last
hidden layer's output is the feature vector. Works on any data set: images are flattened
after normalization with the data's channel statistics.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.models.base import Classifier, normalizer
from toolkit.models.weights import apply_weights, files_key, given


def build(
    info: DataInfo,
    *,
    hidden: list[Annotated[int, Field(ge=1)]] = [128],  # noqa: B006 - read-only default
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0,
    activation: Literal["relu", "gelu", "tanh"] = "relu",
    weights: str | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
) -> Classifier:
    """Build an MLP classifier for the data described by ``info``.

    Args:
        info: the data's description (input shape, classes, statistics).
        hidden: widths of the hidden layers (default ``[128]``; ``[]`` gives a linear model).
        dropout: dropout after each hidden layer (default 0).
        activation: ``"relu"`` (default), ``"gelu"`` or ``"tanh"``.
        weights: a file of trained weights (safetensors, or a ``state_dict`` read with
            ``weights_only``) to start from (:mod:`toolkit.models.weights`); without
            ``[train]`` in the recipe the model is evaluated as given.
        mean: the input normalization the weights were trained with, per feature (channel for images)
            (default: the data's statistics, or the file's ``normalize.*``).
        std: its standard deviations (with ``mean``).
        class_names: the classes of the weights' outputs, in order; checked against the data's.

    Example:
        >>> from toolkit.data.synthetic import load
        >>> model = build(load(0).info, hidden=[32])
        >>> model.head.out_features
        4
    """
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]
    width = math.prod(info.tensor_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    model = Classifier(
        nn.Sequential(*layers), nn.Linear(width, info.num_classes), normalizer(info, mean, std)
    )
    return apply_weights(model, weights, class_names=class_names, info=info, architecture="mlp")


build.files_key = files_key  # type: ignore[attr-defined]  # the weights file's digest enters the train key
build.given = given  # type: ignore[attr-defined]  # with weights, a recipe without [train] trains nothing
