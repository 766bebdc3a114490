"""Grad-CAM, through Captum.

Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations from
Deep Networks via Gradient-based Localization", ICCV 2017.

    L = ReLU( sum_k a_k A^k ),   a_k = mean_ij d f_t / d A^k_ij

over the feature maps ``A^k`` of a convolutional layer (default: the model's last
convolution), upsampled bilinearly to the input size: one map ``(N, 1, H, W)`` per image.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.explainers.captum_adapter import Captum


class GradCAM:
    """Grad-CAM (Selvaraju et al., ICCV 2017) via Captum's ``LayerGradCam``.

    Args:
        layer: dotted path of the convolutional layer (default: the last convolution).
    """

    #: Grad-CAM needs convolutional feature maps: image data only.
    modalities = ("image",)

    def __init__(self, *, layer: str | None = None) -> None:
        self.layer = layer

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Grad-CAM maps, upsampled to the input size."""
        maps = Captum(method="LayerGradCam", params={"relu_attributions": True}, layer=self.layer).explain(
            model, inputs, targets
        )
        return maps
