"""Which representation of a training sample a poison filter reads.

- ``features`` (default): the penultimate features, the input of the last linear layer (for
  a model with a deeper head, the output of its hidden layers: what the trained layers learn
  even when the backbone is frozen);
- ``backbone``: the backbone's output, before the hidden layers of the head;
- ``logits``: the model's outputs.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from torch import nn

from toolkit.outputs import Outputs
from toolkit.training import backbone_features

Layer = Literal["features", "backbone", "logits"]


def representations(model: nn.Module, train: Outputs, layer: Layer) -> np.ndarray:
    """``(N, width)`` float64 representations of the training split at ``layer``."""
    if layer == "features":
        return train.features.double().numpy()
    if layer == "logits":
        return train.logits.double().numpy()
    backbone, normalize = getattr(model, "backbone", None), getattr(model, "normalize", None)
    if not isinstance(backbone, nn.Module) or not isinstance(normalize, nn.Module):
        raise ValueError(
            f"layer 'backbone' needs a model with a backbone (a toolkit classifier); "
            f"{type(model).__name__} has none: use layer 'features' or 'logits'"
        )
    return backbone_features(model, train.x, train.device, train.batch_size).flatten(1).double().cpu().numpy()
