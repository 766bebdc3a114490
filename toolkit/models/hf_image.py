"""A Hugging Face image-classification checkpoint (ViT, ConvNeXt, ResNet, Swin ...).

``AutoModelForImageClassification`` and its ``AutoImageProcessor`` from a local folder, a
folder name under ``$TOOLKIT_DATA/models``, or the hub when ``allow_download`` is true.
The toolkit keeps giving models pixels in ``[0, 1]``; the wrapper does what the processor
would do, in the graph (so attacks and explainers see through it): a grayscale image is
repeated over the model's three channels, the image is resized (bilinear) to the
processor's ``size`` (``height`` x ``width``, or a square of its ``shortest_edge``), and
normalized with its ``image_mean`` and ``image_std``.

Without ``[train]`` the checkpoint is evaluated as given: its labels (``config.id2label``)
must be the data's classes, in order (generic ``LABEL_0`` ... names are not checked, only
their number). With ``[train]`` it is fine-tuned (its head keeps its labels). The
penultimate features are the input of
the final linear layer (``classifier``), for feature-based detectors. The folder's files
(their SHA-256) enter the fingerprints. Needs ``pip install 'trustworthy-ml-toolkit[text]'``
(transformers).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import DataError, UsageError

__all__ = ["ImageClassifier", "build"]


class ImageClassifier(nn.Module):
    """``model(normalize(resize(channels(x))))``: a ``transformers`` image classifier on
    ``[0, 1]`` pixels.

    Args:
        model: the ``...ForImageClassification`` model.
        size: the ``(height, width)`` it takes.
        mean: the processor's per-channel mean.
        std: the processor's per-channel standard deviation.
        channels: the channels it takes.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, model: nn.Module, *, size: tuple[int, int], mean: list[float], std: list[float], channels: int
    ) -> None:
        super().__init__()
        self.model = model
        self.size = size
        self.channels = channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        head = _classifier(model)
        if head is not None:
            self.penultimate = f"model.{head}"  # read by toolkit.models.layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != self.size:
            x = nn.functional.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.model(pixel_values=(x - self.mean) / self.std).logits


def build(
    info: DataInfo,
    *,
    checkpoint: str,
    allow_download: bool = False,
) -> ImageClassifier:
    """The checkpoint for the image data described by ``info``.

    Args:
        info: the data's description; its modality must be ``"image"``.
        checkpoint: a local folder, a folder name under ``$TOOLKIT_DATA/models``, or a hub name.
        allow_download: read the hub when the checkpoint is not local (default false).
    """
    try:
        from transformers import AutoImageProcessor, AutoModelForImageClassification
    except ImportError as exc:  # pragma: no cover - the text extra is missing
        raise UsageError(
            "model hf_image needs transformers: pip install 'trustworthy-ml-toolkit[text]'"
        ) from exc
    from toolkit.text.tokens import locate, missing_checkpoint

    if info.modality != "image" or len(info.tensor_shape) != 3:
        raise UsageError(f"model hf_image needs image data, but '{info.name}' is {info.modality}")
    source = locate(checkpoint)
    try:
        processor = AutoImageProcessor.from_pretrained(source, local_files_only=not allow_download)
        model = AutoModelForImageClassification.from_pretrained(source, local_files_only=not allow_download)
    except (OSError, ValueError) as exc:
        raise DataError(missing_checkpoint(checkpoint, "model.checkpoint", exc)) from exc
    config = model.config
    labels = [str(config.id2label[i]) for i in range(config.num_labels)]
    if labels != list(info.class_names) and not all(re.fullmatch(r"LABEL_\d+", n) for n in labels):
        raise DataError(
            f"model.checkpoint: {checkpoint}'s labels {labels[:10]} are not the data's classes "
            f"{list(info.class_names)[:10]} in that order; the outputs would be read as other classes"
        )
    if len(labels) != info.num_classes:
        raise DataError(
            f"model.checkpoint: {checkpoint} has {len(labels)} labels and the data {info.num_classes} classes"
        )
    channels = int(getattr(config, "num_channels", 3))
    if info.tensor_shape[0] not in (channels, 1):
        raise DataError(
            f"model.checkpoint: {checkpoint} takes {channels} channels, the data has {info.tensor_shape[0]}"
        )
    mean, std = _normalization(processor, channels)
    return ImageClassifier(model.eval(), size=_size(processor, info), mean=mean, std=std, channels=channels)


def _size(processor: Any, info: DataInfo) -> tuple[int, int]:
    """The processor's ``(height, width)``; the data's own without a size."""
    size = getattr(processor, "size", None) or {}
    get = size.get if isinstance(size, Mapping) else lambda key: getattr(size, key, None)
    height, width, edge = get("height"), get("width"), get("shortest_edge")
    if height and width:
        return int(height), int(width)
    if edge:
        return int(edge), int(edge)
    return int(info.tensor_shape[1]), int(info.tensor_shape[2])


def _normalization(processor: Any, channels: int) -> tuple[list[float], list[float]]:
    if not getattr(processor, "do_normalize", True):
        return [0.0] * channels, [1.0] * channels
    mean = list(getattr(processor, "image_mean", None) or [0.0] * channels)
    std = list(getattr(processor, "image_std", None) or [1.0] * channels)
    return [float(v) for v in mean], [float(v) for v in std]


def _classifier(model: nn.Module) -> str | None:
    """The name of the final linear layer (its input is the penultimate features)."""
    for name in ("classifier", "head", "fc"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Linear):
            return name
        if isinstance(module, nn.Sequential) and isinstance(module[-1], nn.Linear):
            return f"{name}.{len(module) - 1}"
    return None


def files_key(params: Mapping[str, Any]) -> Any:
    """The checkpoint folder's files (names and SHA-256), or the hub name."""
    from toolkit.text.tokens import folder_stamp, locate

    source = locate(str(params.get("checkpoint")))
    folder = Path(source)
    return {"files": folder_stamp(folder)} if folder.is_dir() else f"hub:{source}"


def given(params: Mapping[str, Any]) -> bool:
    """A classification checkpoint is trained: without ``[train]`` it is evaluated as given."""
    return True


build.files_key = files_key  # type: ignore[attr-defined]
build.given = given  # type: ignore[attr-defined]
