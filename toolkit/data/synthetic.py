"""Synthetic Gaussian classes: a small, fast, fully controlled data set for tests.

Class ``k`` has a random centre ``mu_k ~ N(0, I)`` scaled to norm ``separation``; its
samples are ``mu_k + N(0, I)``. With ``modality = "image"`` each sample is reshaped to a
one-channel ``image_size x image_size`` image and mapped to ``uint8`` through a logistic
squashing, so image models and batch augmentation can be tested on it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split, split_holdout, stratified_split


def load(
    seed: int,
    *,
    n_classes: Annotated[int, Field(ge=2)] = 4,
    n_features: Annotated[int, Field(ge=1)] = 16,
    n_per_class: Annotated[int, Field(ge=2)] = 100,
    separation: Annotated[float, Field(ge=0)] = 3.0,
    modality: Literal["tabular", "image"] = "tabular",
    image_size: Annotated[int, Field(ge=2)] = 8,
    holdout: list[str | int] = [],  # noqa: B006 - read-only default, shown by `toolkit show`
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3,
) -> DataBundle:
    """Draw Gaussian classes; class names are ``"c0"``, ``"c1"``, ...

    Args:
        seed: seed of the draw and of the stratified split.
        n_classes: number of classes (default 4).
        n_features: dimensions of a tabular sample (ignored for images, which have
            ``image_size ** 2``).
        n_per_class: samples per class before the split (default 100).
        separation: distance of each class centre from the origin (default 3.0).
        modality: ``"tabular"`` (float features) or ``"image"`` (``uint8`` images).
        image_size: side of the square images (default 8).
        holdout: classes left out of training; their test samples become the OOD split.
        test_size: fraction of each class in the test split (default 0.3).

    Example:
        >>> bundle = load(0, n_classes=3, holdout=["c2"])
        >>> bundle.info.class_names, bundle.ood is not None
        (['c0', 'c1'], True)
    """
    g = torch.Generator().manual_seed(seed)
    dim = image_size * image_size if modality == "image" else n_features
    centres = torch.randn(n_classes, dim, generator=g)
    centres = centres / centres.norm(dim=1, keepdim=True).clamp_min(1e-12) * separation
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = centres[y] + torch.randn(len(y), dim, generator=g)
    names = [f"c{k}" for k in range(n_classes)]
    if modality == "image":
        x = (torch.sigmoid(x) * 255).round().to(torch.uint8).reshape(-1, 1, image_size, image_size)
    train_idx, test_idx = stratified_split(y, test_size, seed)
    train = Split(x[train_idx], y[train_idx])
    test = Split(x[test_idx], y[test_idx])
    return split_holdout(
        name="synthetic",
        modality="image" if modality == "image" else "tabular",
        class_names=names,
        train=train,
        test=test,
        holdout=holdout,
    )
