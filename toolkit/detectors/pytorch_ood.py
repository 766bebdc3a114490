"""Any detector of pytorch-ood, by class name, with its score turned to our convention.

Kirchheim, Filax & Ortmeier, "PyTorch-OOD: A Library for Out-of-Distribution Detection
based on PyTorch", CVPR Workshops 2022. Its 0.4 release has 35 detectors
(``pytorch_ood.detector``).

pytorch-ood returns *outlier* scores (higher = more OOD); the adapter returns their
negation, so that, as for every toolkit detector, higher means more in-distribution. It
feeds each detector what it works on, read from the shared outputs of the run:

- logit-based detectors (``predict_logits``: MaxSoftmax, EnergyBased, MaxLogit, Entropy,
  ...) get the logits;
- feature-based detectors (``predict_features``: Mahalanobis, KNN, ViM, ...) get the
  penultimate features, fitted on the training features and labels; ``w`` and ``b``
  (ViM) default to the model's head;
- the rest (ODIN, ...) get the model and the inputs.

Install with ``pip install 'trustworthy-ml-toolkit[ood]'``.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from toolkit.adapters import class_by_name
from toolkit.errors import UsageError, require_fitted
from toolkit.modelstate import eval_mode
from toolkit.outputs import Outputs


def detector_class(name: str) -> type:
    """The pytorch-ood detector class called ``name``; unknown names list the available ones."""
    return class_by_name(
        "pytorch_ood.detector",
        name,
        what="pytorch-ood has no detector",
        install="detector pytorch_ood needs pytorch-ood: pip install 'trustworthy-ml-toolkit[ood]'",
    )


class PytorchOOD:
    """Adapter for a pytorch-ood detector (scores negated: higher = in-distribution).

    Args:
        detector: the class name in ``pytorch_ood.detector`` (e.g. ``"Mahalanobis"``).
        params: keyword arguments of that class (e.g. ``{k = 50}`` for ``KNN``).
        input: what the detector reads: ``"auto"`` (from its methods), ``"logits"``,
            ``"features"`` or ``"inputs"``.
        batch_size: samples per pass for input-based detectors (default 256).
    """

    #: The parameters the conformance checks use.
    example_params: ClassVar[dict[str, Any]] = {"detector": "Mahalanobis"}

    def __init__(
        self,
        *,
        detector: str,
        params: dict[str, Any] = {},  # noqa: B006 - read-only default
        input: Literal["auto", "logits", "features", "inputs"] = "auto",
        batch_size: int = 256,
    ) -> None:
        self.detector = detector
        self.params = dict(params)
        self.input = input
        self.batch_size = batch_size
        self._impl: Any = None
        self._mode = input

    def fit(self, model: nn.Module, train: Outputs) -> PytorchOOD:
        """Build the pytorch-ood detector and fit it where it needs fitting."""
        cls = detector_class(self.detector)
        mode = self.input
        if mode == "auto":
            mode = (
                "logits"
                if hasattr(cls, "predict_logits")
                else "features"
                if hasattr(cls, "predict_features")
                else "inputs"
            )
        self._mode = mode
        params = dict(self.params)
        wanted = inspect.signature(cls).parameters
        first = next(iter(wanted), None)
        if first in ("model", "encoder") and first not in params:
            params[first] = model if mode == "inputs" else None
        for name, part in (("head", "head"), ("backbone", "backbone")):
            if name in wanted and name not in params and hasattr(model, part):
                params[name] = getattr(model, part)
        if "w" in wanted and "b" in wanted and "w" not in params:
            from toolkit.detectors.vim import head_weights

            params["w"], params["b"] = (t.float() for t in head_weights(model))
        try:
            self._impl = cls(**params)
        except TypeError as exc:
            raise UsageError(
                f"detectors: pytorch-ood's {self.detector} could not be built ({exc}); "
                f"give its missing parameters in params (it takes {', '.join(wanted)})"
            ) from exc
        if getattr(self._impl, "requires_fit", False):
            if mode == "logits":
                self._impl.fit_logits(train.logits, train.labels())
            elif mode == "features":
                self._impl.fit_features(train.features, train.labels())
            else:
                raise UsageError(
                    f"pytorch-ood's {self.detector} must be fitted on a data loader; not supported yet"
                )
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """The negated outlier scores."""
        require_fitted(self, "_impl")
        if self._mode == "logits":
            outlier = self._impl.predict_logits(x.logits)
        elif self._mode == "features":
            outlier = self._impl.predict_features(x.features)
        else:
            with eval_mode(model):
                parts = [self._impl.predict(xb).detach().cpu() for _, xb in x.batches(self.batch_size)]
            outlier = torch.cat(parts)
        return -outlier.detach().float().cpu().reshape(-1)
