"""What every detector is: ``fit(model, train)``, then ``score(model, x)``.

``train`` and ``x`` are :class:`toolkit.outputs.Outputs`: the inputs of a split with the
model's logits and features computed once and shared by all detectors of a run. A score is
a float tensor of shape ``(N,)``; higher means more in-distribution (or more clean).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from toolkit.outputs import Outputs


@runtime_checkable
class Detector(Protocol):
    """The detector protocol; a detector's constructor takes only keyword parameters."""

    def fit(self, model: nn.Module, train: Outputs) -> Detector:
        """Learn what the detector needs from the training split; returns ``self``."""
        ...

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Scores of shape ``(N,)``, higher = more in-distribution."""
        ...
