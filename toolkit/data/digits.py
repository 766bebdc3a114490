"""Handwritten digits: scikit-learn's bundled 8x8 images, offline.

1,797 grayscale images of the digits 0-9 (Alpaydin & Kaynak, UCI "Optical Recognition of
Handwritten Digits", 1998), as shipped with scikit-learn. The 17 gray levels (0-16) are
scaled to ``uint8`` (0-255), so the images behave like any other image data set: shape
``(N, 1, 8, 8)``, model input in ``[0, 1]``.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split, split_holdout, stratified_split

MODALITY = "image"
CLASS_NAMES = [str(d) for d in range(10)]


def load(
    seed: int,
    *,
    holdout: list[str | int] = [],  # noqa: B006 - read-only default, shown by `toolkit show`
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3,
) -> DataBundle:
    """Load the digits, split stratified into train and test, and leave classes out.

    Args:
        seed: seed of the stratified train/test split (the recipe's ``seed``).
        holdout: digits (names ``"0"``-``"9"`` or indices) left out of training; their test
            images become the out-of-distribution split.
        test_size: fraction of each class in the test split (default 0.3).

    Returns:
        The bundle; in-distribution classes are relabelled ``0..K-1``.

    Example:
        >>> bundle = load(0, holdout=["9"])
        >>> bundle.info.num_classes, bundle.train.x.dtype
        (9, torch.uint8)
    """
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = torch.as_tensor(raw.images, dtype=torch.float32)
    x = (images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    y = torch.as_tensor(raw.target, dtype=torch.long)
    train_idx, test_idx = stratified_split(y, test_size, seed)
    train = Split(x[train_idx], y[train_idx])
    test = Split(x[test_idx], y[test_idx])
    return split_holdout(
        name="digits",
        modality="image",
        class_names=CLASS_NAMES,
        train=train,
        test=test,
        holdout=holdout,
    )
