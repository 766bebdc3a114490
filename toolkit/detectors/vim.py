"""ViM: virtual-logit matching.

Wang, Li, Feng & Zhang, "ViM: Out-Of-Distribution with Virtual-logit Matching", CVPR 2022.

With the head's weights ``W`` and bias ``b``, the features are centred at
``o = -pinv(W) b``. Fit: the principal subspace ``P`` spanned by the top ``dim``
eigenvectors of the centred training features' covariance, and
``alpha = mean_x max_k f_k(x) / mean_x ||(z - o) projected off P||`` on the training split.
Score:

    score(x) = logsumexp_k f_k(x) - alpha * ||(I - P P^T)(z(x) - o)||

the energy minus the scaled norm of the residual off the principal subspace (the virtual
logit). ``dim`` defaults to half the feature width (the paper uses 1000 of 2048 for
ImageNet ResNets; pick it below the feature width). Higher means more in-distribution.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from toolkit.errors import UsageError, require_fitted
from toolkit.outputs import Outputs


def head_weights(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The final linear layer's weight ``(K, F)`` and bias ``(K,)``: the module whose input is
    the penultimate features (``head`` of a toolkit classifier, or the module a model's
    ``penultimate`` names), of any class that holds a 2-D ``weight`` (and a ``bias``): an
    ``nn.Linear``, or the same layer in an exported program."""
    from toolkit.models.layers import head_name

    name = head_name(model)
    head = dict(model.named_modules()).get(name) if name is not None else None
    if head is None and name is not None:  # a head kept outside the module tree (hf_text's)
        head = getattr(model, name, None)
    weight = getattr(head, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise UsageError(
            "detector vim needs the model's final linear layer: a toolkit classifier's head, or the "
            "module its penultimate attribute names (model.head for a model file), holding a 2-D weight"
        )
    bias = getattr(head, "bias", None)
    bias = bias if isinstance(bias, torch.Tensor) else torch.zeros(weight.shape[0])
    return weight.detach().double().cpu(), bias.detach().double().cpu()


class ViM:
    """Virtual-logit matching (Wang et al., CVPR 2022).

    Args:
        dim: dimension of the principal subspace (default: half the feature width).
    """

    def __init__(self, *, dim: Annotated[int, Field(ge=1)] | None = None) -> None:
        self.dim = dim
        self.origin: torch.Tensor | None = None
        self.residual: torch.Tensor | None = None
        self.alpha = 1.0

    def _residual_norm(self, z: torch.Tensor) -> torch.Tensor:
        assert self.origin is not None and self.residual is not None
        return ((z.double() - self.origin) @ self.residual).norm(dim=1)

    def fit(self, model: nn.Module, train: Outputs) -> ViM:
        """The principal subspace of the training features and the matching scale ``alpha``."""
        w, b = head_weights(model)
        z = train.features.double()
        width = z.shape[1]
        dim = self.dim if self.dim is not None else max(width // 2, 1)
        if dim >= width:
            raise UsageError(f"detectors vim: dim = {dim} must be below the feature width {width}")
        self.origin = -(torch.linalg.pinv(w) @ b)
        centred = z - self.origin
        eigvals, eigvecs = torch.linalg.eigh(centred.T @ centred / len(z))
        order = eigvals.argsort(descending=True)
        self.residual = eigvecs[:, order[dim:]]  # the complement of the principal subspace
        self.alpha = float(train.logits.double().max(dim=1).values.mean() / self._residual_norm(z).mean())
        return self

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor:
        """Energy minus the scaled residual norm."""
        require_fitted(self, "residual")
        energy = torch.logsumexp(x.logits.double(), dim=1)
        return (energy - self.alpha * self._residual_norm(x.features)).float()
