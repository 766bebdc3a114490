"""Mahalanobis distance to class-conditional Gaussians on penultimate features.

Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting Out-of-Distribution Samples
and Adversarial Attacks", NeurIPS 2018 (the feature-space score, without input
preprocessing or layer ensembles).

Fit: class means ``mu_k`` of the training features ``z`` and one covariance ``Sigma``
shared by all classes (tied), both maximum-likelihood estimates. Score:

    score(x) = -min_k (z(x) - mu_k)^T Sigma^+ (z(x) - mu_k)

with the pseudo-inverse ``Sigma^+``. Higher (closer to a class) means more
in-distribution.
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.errors import fitted
from toolkit.outputs import Outputs


def fit_gaussians(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means ``(K, F)`` and the pseudo-inverse of the tied covariance ``(F, F)`` (float64)."""
    z = features.double()
    classes = torch.unique(labels)
    means = torch.stack([z[labels == k].mean(dim=0) for k in classes])
    centered = z - means[torch.searchsorted(classes, labels)]
    cov = centered.T @ centered / len(z)
    return means, torch.linalg.pinv(cov, hermitian=True)


def mahalanobis_score(features: torch.Tensor, means: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """``-min_k (z - mu_k)^T P (z - mu_k)`` per row, shape ``(N,)``."""
    z = features.double()
    # (z - m)^T P (z - m) = zPz - 2 zPm + mPm, for all classes at once
    zp = z @ precision
    d = (zp * z).sum(dim=1, keepdim=True) - 2 * zp @ means.T + ((means @ precision) * means).sum(dim=1)
    return -d.min(dim=1).values.float()


class Mahalanobis:
    """Mahalanobis detector with a tied covariance (Lee et al., NeurIPS 2018).

    Example:
        >>> import torch
        >>> z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [0.0, 4.0], [2.0, 4.0], [1.0, 5.0]])
        >>> means, precision = fit_gaussians(z, torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> means.tolist(), precision.diagonal().tolist()  # variances 2/3 and 2/9
        ([[1.0, 0.3333333333333333], [1.0, 4.333333333333333]], [1.5, 4.5])
        >>> [round(v, 3) for v in mahalanobis_score(torch.tensor([[1.0, 2.5]]), means, precision).tolist()]
        [-15.125]
    """

    def __init__(self) -> None:
        self.means: torch.Tensor | None = None
        self.precision: torch.Tensor | None = None

    def fit(self, model: nn.Module, train: Outputs) -> Mahalanobis:
        """Class means and the tied covariance of the training features."""
        self.means, self.precision = fit_gaussians(train.features, train.labels())
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Negative Mahalanobis distance to the closest class mean."""
        return mahalanobis_score(x.features, fitted(self, "means"), fitted(self, "precision"))
