"""Any attribution method of Captum, by class name, with its parameters.

Kokhlikyan et al., "Captum: A unified and generic model interpretability library for
PyTorch", arXiv:2009.07896, 2020.

``method = "IntegratedGradients"`` with ``params = {n_steps = 50}`` builds
``captum.attr.IntegratedGradients(model)`` and calls ``attribute(inputs, target=targets,
**params)``. Layer methods (``LayerGradCam`` and other ``Layer*`` classes) take the layer
as ``layer`` (a dotted path inside the model, default: the last convolution) and their
attributions are upsampled to the input size. Install with ``pip install 'trustworthy-ml-toolkit[explain]'``.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.adapters import class_by_name
from toolkit.models.layers import last_conv, module
from toolkit.modelstate import frozen


def method_class(name: str) -> Any:
    """Captum's attribution class ``name``; an unknown name lists the available ones."""
    return class_by_name(
        "captum.attr",
        name,
        what="captum has no attribution method",
        install="explainer captum needs captum: pip install 'trustworthy-ml-toolkit[explain]'",
        keep=lambda cls: hasattr(cls, "attribute"),
    )


class Captum:
    """Adapter for a Captum attribution method.

    Args:
        method: the class name in ``captum.attr`` (e.g. ``"IntegratedGradients"``,
            ``"LayerGradCam"``, ``"Occlusion"``).
        params: keyword arguments of its ``attribute`` call (e.g. ``{n_steps = 32}``).
        layer: for layer methods, the dotted path of the layer (default: the last convolution).
    """

    example_params: ClassVar[dict[str, Any]] = {"method": "Saliency"}

    def __init__(self, *, method: str, params: dict[str, Any] = {}, layer: str | None = None) -> None:  # noqa: B006
        self.method = method
        self.params = dict(params)
        self.layer = layer
        self.layers = (layer,) if layer else ()

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Attributions aligned with the input (layer attributions upsampled to its size)."""
        cls = method_class(self.method)
        wanted = inspect.signature(cls).parameters
        with frozen(model):
            if "layer" in wanted:
                layer = module(model, self.layer or last_conv(model, inputs))
                explainer = cls(model, layer)
            else:
                explainer = cls(model)
            x = inputs.detach().clone().requires_grad_(True)
            out = explainer.attribute(x, target=targets, **self.params)
        out = out.detach()
        if out.is_floating_point() and inputs.is_floating_point():
            out = out.to(inputs.dtype)  # captum < 0.8 returns IntegratedGradients in float64
        if out.dim() == 4 and inputs.dim() == 4 and out.shape[-2:] != inputs.shape[-2:]:
            out = F.interpolate(out, size=inputs.shape[-2:], mode="bilinear", align_corners=False)
        return out
