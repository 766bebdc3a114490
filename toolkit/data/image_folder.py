"""Your own images: one folder per class, any size and format that Pillow reads.

    root/
      cat/ img001.jpg img002.png ...
      dog/ ...

Every image is converted to RGB (or grayscale), resized to ``size`` x ``size`` (bilinear)
and kept in memory as ``uint8``; class names are the folder names in sorted order. The
split into train and test is stratified and seeded; ``holdout`` classes leave training
and their test images become the OOD split, as for the other image data sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split, split_holdout, stratified_split
from toolkit.errors import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


MODALITY = "image"


def load(
    seed: int,
    *,
    root: str,
    size: Annotated[int, Field(ge=4)] = 32,
    grayscale: bool = False,
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.2,
) -> DataBundle:
    """Read an image folder into memory.

    Args:
        seed: seed of the stratified train/test split.
        root: the folder holding one sub-folder per class.
        size: side of the square images after resizing (default 32).
        grayscale: one channel instead of three (default false).
        holdout: classes left out of training; their test images become the OOD split.
        test_size: fraction of each class in the test split (default 0.2).
    """
    from PIL import Image, UnidentifiedImageError

    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(
            f"dataset.root: {base} is not a folder; give the folder with one sub-folder per class"
        )
    class_dirs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"dataset.root: {base} needs at least two class sub-folders, found {len(class_dirs)}")
    images, labels = [], []
    for label, folder in enumerate(class_dirs):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise DataError(f"dataset.root: the class folder {folder} holds no images")
        for path in files:
            try:
                with Image.open(path) as opened:
                    resized = opened.convert("L" if grayscale else "RGB").resize(
                        (size, size), Image.Resampling.BILINEAR
                    )
                    array = np.asarray(resized, dtype=np.uint8)
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f"cannot read image {path}: {exc}") from exc
            images.append(array[None] if grayscale else array.transpose(2, 0, 1))
            labels.append(label)
    x = torch.from_numpy(np.stack(images))
    y = torch.tensor(labels, dtype=torch.long)
    train_idx, test_idx = stratified_split(y, test_size, seed)
    return split_holdout(
        name=f"image_folder:{base.name}",
        modality="image",
        class_names=[p.name for p in class_dirs],
        train=Split(x[train_idx], y[train_idx]),
        test=Split(x[test_idx], y[test_idx]),
        holdout=holdout,
    )
