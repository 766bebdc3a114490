"""A split's inputs with the model's logits and features, each computed once.

Every detector and metric of a run reads the same :class:`Outputs`, so a split passes
through the model once however many detectors score it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import torch
from torch import nn

from toolkit.data.inputs import Inputs, batches, num_samples, to_device, to_model_input
from toolkit.modelstate import eval_mode


class Outputs:
    """Inputs ``x`` of one split and, computed on first use in one pass, logits and features.

    Args:
        model: the classifier; if it has ``forward_features`` and ``head`` the penultimate
            features are kept too.
        x: the split's inputs as stored (``uint8`` images, float features or a mapping of
            named tensors).
        y: the split's labels, for detectors that fit per-class statistics (or ``None``).
        device: where to run the model.
        batch_size: samples per inference pass.
    """

    def __init__(
        self,
        model: nn.Module,
        x: Inputs,
        *,
        y: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 1024,
    ) -> None:
        self.model = model
        self.x = x
        self.y = y
        self.device = torch.device(device)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return num_samples(self.x)

    def inputs(self) -> Inputs:
        """The inputs as the model takes them (images as floats in ``[0, 1]``)."""
        return to_model_input(self.x)

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[int, Inputs]]:
        """``(start, batch)`` of model inputs on the device (``batch_size`` samples each,
        default the outputs' own)."""
        for start, xb in batches(self.x, batch_size or self.batch_size):
            yield start, to_model_input(to_device(xb, self.device))

    @cached_property
    def _forward(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        model = self.model
        has_features = hasattr(model, "forward_features") and hasattr(model, "head")
        logits, feats = [], []
        with eval_mode(model), torch.inference_mode():
            for _, xb in self.batches():
                if has_features:
                    f = model.forward_features(xb)  # type: ignore[operator]
                    feats.append(f.float().cpu())
                    logits.append(model.head(f).float().cpu())  # type: ignore[operator]
                else:
                    logits.append(model(xb).float().cpu())
        return torch.cat(logits), (torch.cat(feats) if has_features else None)

    @property
    def logits(self) -> torch.Tensor:
        """Logits, ``(N, num_classes)``, on the CPU."""
        return self._forward[0]

    @property
    def features(self) -> torch.Tensor:
        """Penultimate features, ``(N, F)``, on the CPU."""
        feats = self._forward[1]
        if feats is None:
            raise TypeError(
                f"{type(self.model).__name__} exposes no features: give it forward_features() and head"
            )
        return feats

    def labels(self) -> torch.Tensor:
        """The labels, or a clear error for a split that has none."""
        if self.y is None:
            raise ValueError("this detector needs the labels of the split it is fitted on")
        return self.y

    @property
    def predictions(self) -> torch.Tensor:
        """Predicted classes, ``(N,)``."""
        return self.logits.argmax(dim=1)
