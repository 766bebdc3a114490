"""Activation clustering: split each class's representations in two; a small cluster is poison.

Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava, "Detecting Backdoor
Attacks on Deep Neural Networks by Activation Clustering", 2018.

For each class, the penultimate features of the samples labelled with it (from the model
trained on the possibly poisoned data) are reduced to ``dims`` dimensions with PCA (the
default, as IBM ART's ``ActivationDefence``) or independent component analysis (the paper's
choice; its whitening gives every component unit variance, which can hide a poison cluster
among directions that are noise), clustered with k-means into
``clusters`` groups, and a group holding less than ``size_threshold`` of the class is
flagged as poisoned (the paper's relative-size analysis). A fresh model is then trained on
the rest. Seeded: the same recipe flags the same samples. Defaults: PCA to 10 dimensions,
2 clusters, size threshold 0.35.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.defenses.poison_scores import activation_clusters
from toolkit.outputs import Outputs
from toolkit.protocols import PoisonFilter


class ActivationClustering(PoisonFilter):
    """Activation-clustering filter (Chen et al. 2018).

    Args:
        reduce: ``pca`` (default), ``ica`` (the paper's) or ``none``.
        dims: dimensions after reduction (default 10).
        clusters: k-means clusters per class (default 2).
        size_threshold: a cluster with less than this share of its class is poisoned
            (default 0.35).
        seed: seed of the reduction and of k-means (default 0).
        layer: the representation read: ``features`` (default, the penultimate layer, as the
            paper's last hidden layer), ``logits``, or the output of any named layer of the
            model such as ``backbone`` (:mod:`toolkit.models.layers`).
    """

    def __init__(
        self,
        *,
        reduce: Literal["pca", "ica", "none"] = "pca",
        dims: Annotated[int, Field(ge=1)] = 10,
        clusters: Annotated[int, Field(ge=2)] = 2,
        size_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.35,
        seed: int = 0,
        layer: str = "features",
    ) -> None:
        self.reduce, self.dims, self.clusters = reduce, dims, clusters
        self.size_threshold, self.seed, self.layer = size_threshold, seed, layer
        self.layers = (layer,)

    def flag(self, model: nn.Module, train: Outputs) -> torch.Tensor:
        flags = activation_clusters(
            train.layer(self.layer).flatten(1).double().numpy(),
            train.labels().cpu().numpy(),
            reduce=self.reduce,
            dims=self.dims,
            clusters=self.clusters,
            size_threshold=self.size_threshold,
            seed=self.seed,
        )
        return torch.from_numpy(flags)
