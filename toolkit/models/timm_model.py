"""Any architecture of timm (PyTorch Image Models, Wightman 2019) by name.

``timm.create_model(arch, num_classes=K, in_chans=C)``; the pooled pre-logit output
(``forward_head(forward_features(x), pre_logits=True)``) is the feature vector and the
model's classifier is the head, so feature-based detectors work on every timm model.
Inputs are images in ``[0, 1]``, normalized inside with the data's channel statistics.
``pretrained = true`` loads timm's weights only from the local Hugging Face cache (offline;
a clear error when they are not there). Install with ``pip install 'trustworthy-ml-toolkit[vision]'``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import UsageError
from toolkit.models.base import Classifier, normalizer
from toolkit.models.weights import apply_weights, files_key, given


class _Features(nn.Module):
    """A timm model up to its pooled pre-logit features."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True).flatten(1)


def build(
    info: DataInfo,
    *,
    arch: str,
    pretrained: bool = False,
    weights: str | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
) -> Classifier:
    """Build the timm architecture ``arch`` for the image data described by ``info``.

    Args:
        info: the data's description; its modality must be ``"image"``.
        arch: a timm model name (``timm.list_models()``), e.g. ``"resnet18"``, ``"vit_tiny_patch16_224"``.
        pretrained: start from timm's pretrained weights (must be in the local cache).
        weights: a file of trained weights (safetensors, or a ``state_dict`` read with
            ``weights_only``), in timm's key names or the toolkit's
            (:mod:`toolkit.models.weights`); without ``[train]`` in the recipe the model is
            evaluated as given.
        mean: the input normalization the weights were trained with, per channel (default:
            the data's statistics, or the file's ``normalize.*``).
        std: its standard deviations (with ``mean``).
        class_names: the classes of the weights' outputs, in order; checked against the data's.
    """
    try:
        import timm
    except ImportError as exc:
        raise UsageError("model timm needs timm: pip install 'trustworthy-ml-toolkit[vision]'") from exc
    if info.modality != "image" or len(info.tensor_shape) != 3:
        raise UsageError(f"model timm needs image data, but '{info.name}' is {info.modality}")
    if not timm.is_model(arch.split(".")[0]):
        import difflib

        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"model.arch: timm has no architecture '{arch}'.{hint}")
    net = _create(timm, arch, pretrained=pretrained, info=info)
    head: Any = net.get_classifier()
    if not isinstance(head, nn.Linear):
        raise UsageError(f"model.arch: '{arch}' has no single linear classifier; pick another architecture")
    model = Classifier(_Features(net), head, normalizer(info, mean, std))
    return apply_weights(
        model, weights, class_names=class_names, info=info, architecture=f"timm {arch}", plain=net
    )


def _create(timm: Any, arch: str, *, pretrained: bool, info: DataInfo) -> Any:
    """``timm.create_model`` for the data's classes and channels, reading pretrained weights
    from the local Hugging Face cache only (``HF_HUB_OFFLINE`` set for the call)."""
    import os

    offline = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # pretrained weights from the local cache only
    try:
        return timm.create_model(
            arch, pretrained=pretrained, num_classes=info.num_classes, in_chans=info.tensor_shape[0]
        )
    except Exception as exc:
        if not pretrained:
            raise
        raise UsageError(
            f"model.pretrained: timm's weights for '{arch}' could not be loaded "
            f"({type(exc).__name__}: {exc}); fetch them once while online, or set pretrained = false"
        ) from exc
    finally:
        if offline is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = offline


build.files_key = files_key  # type: ignore[attr-defined]  # the weights file's digest enters the train key
build.given = given  # type: ignore[attr-defined]  # with weights, a recipe without [train] trains nothing
