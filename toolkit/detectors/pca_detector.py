"""PCA reconstruction error: a detector of adversarial (or otherwise unusual) inputs.

Hendrycks & Gimpel, "Early Methods for Detecting Adversarial Images", ICLR Workshops 2017
(adversarial images have unusually large weight on the low-variance principal components
of natural images); Bhagoji et al., "Dimensionality Reduction as a Defense against Evasion
Attacks", 2017.

Fit: PCA (scikit-learn) on clean training data, either the flattened inputs or the
penultimate features, keeping enough components to explain ``variance`` of it (default
0.95). Score:

    score(x) = -|| v - V V^T (v - m) - m ||_2

the negative distance of ``v`` (the input or its features) to its reconstruction from the
kept components (``m`` the training mean). Higher means more like the clean data. Scored
like the OOD detectors: AUROC of clean against adversarial inputs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.errors import UsageError, require_fitted
from toolkit.outputs import Outputs


class PCADetector:
    """PCA reconstruction-error detector (Hendrycks & Gimpel 2017; Bhagoji et al. 2017).

    Args:
        source: ``"features"`` (penultimate features, default) or ``"inputs"`` (flattened).
        variance: share of the training variance the kept components explain (default 0.95).
        max_samples: fit on at most this many training samples (default 10000; seeded).
    """

    def __init__(
        self,
        *,
        source: Literal["features", "inputs"] = "features",
        variance: Annotated[float, Field(gt=0, lt=1)] = 0.95,
        max_samples: Annotated[int, Field(ge=2)] = 10000,
    ) -> None:
        self.source = source
        self.variance = variance
        self.max_samples = max_samples
        self.pca: Any = None

    def _vectors(self, x: Outputs) -> torch.Tensor:
        if self.source == "features":
            return x.features.double().cpu()
        inputs = x.inputs()
        if not isinstance(inputs, torch.Tensor):
            raise UsageError("pca_detector: source = 'inputs' needs tensor inputs; use source = 'features'")
        return inputs.flatten(1).double().cpu()

    def fit(self, model: nn.Module, train: Outputs) -> PCADetector:
        """Fit the PCA on clean training data."""
        from sklearn.decomposition import PCA

        v = self._vectors(train)
        if len(v) > self.max_samples:
            idx = torch.randperm(len(v), generator=torch.Generator().manual_seed(0))[: self.max_samples]
            v = v[idx]
        self.pca = PCA(n_components=self.variance, svd_solver="full").fit(v.numpy())
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Negative reconstruction error of each sample."""
        require_fitted(self, "pca")
        v = self._vectors(x).numpy()
        restored = self.pca.inverse_transform(self.pca.transform(v))
        return -torch.as_tensor(((v - restored) ** 2).sum(axis=1) ** 0.5, dtype=torch.float32)
