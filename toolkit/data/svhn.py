"""SVHN: 32x32 colour crops of house-number digits from Google Street View, 10 classes.

Netzer, Wang, Coates, Bissacco, Wu and Ng, "Reading Digits in Natural Images with
Unsupervised Feature Learning", NIPS Workshop on Deep Learning and Unsupervised Feature
Learning, 2011.

Reads the cropped-digits release (format 2): ``train_32x32.mat`` (73,257 images) and
``test_32x32.mat`` (26,032) from ``root``, or from ``$TOOLKIT_DATA`` (default
``~/.cache/toolkit/data``); ``root`` may be the folder holding them or its parent (files in
``svhn/``). Each is a MATLAB v5 file read with :func:`scipy.io.loadmat`: ``X``, ``uint8`` of
shape ``(32, 32, 3, N)``, and ``y``, ``(N, 1)`` labels ``1..10`` where 10 is the digit 0
(mapped to 0 here, so class ``k`` is the digit ``k``). ``extra_32x32.mat`` is not read. A
file that is not a MATLAB file, or lacks ``X`` or ``y``, or whose shapes or labels are
wrong, is a :class:`~toolkit.errors.DataError` naming it. With ``download = true`` and a
network connection, torchvision fetches the two files into ``svhn/`` first.

OpenOOD v1.5 (Zhang et al. 2023) uses the SVHN test set as far-OOD data for CIFAR-10;
this loader reads the standard release (its test split is that set), not OpenOOD's
curated image lists.

Images stay in memory as ``uint8`` tensors ``(N, 3, 32, 32)``; ``holdout`` classes leave
training and their test images become the OOD split; ``classes`` keeps a subset;
``train_per_class`` and ``test_per_class`` subsample each class (seeded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split, pick, select_classes, split_holdout
from toolkit.data.release import Release
from toolkit.errors import DataError

MODALITY = "image"
CLASS_NAMES = [str(d) for d in range(10)]
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def _fetch(root: Path) -> None:  # pragma: no cover - needs the network
    from torchvision.datasets import SVHN

    for split in FILES:
        SVHN(str(root / "svhn"), split=split, download=True)


RELEASE = Release(
    title="SVHN",
    folders=("svhn", "SVHN"),
    marker=lambda p: all((p / f).is_file() for f in FILES.values()),
    looked=f"{FILES['train']} and {FILES['test']} (also under svhn/)",
    size="about 250 MB",
    fetch=_fetch,
)


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ``X`` (``uint8`` ``(32, 32, 3, N)``) and ``y`` of one SVHN ``.mat`` file, ``y`` as
    digits ``0..9`` (the file's 10 is 0); anything else is a DataError naming the file."""
    from scipy.io import loadmat

    try:
        content = loadmat(str(path), variable_names=["X", "y"])
    except Exception as exc:  # scipy raises several types for files that are not MATLAB files
        raise DataError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc
    missing = [k for k in ("X", "y") if k not in content]
    if missing:
        raise DataError(f"{path}: no variable {' or '.join(missing)}; an SVHN file holds X and y")
    x, raw = content["X"], np.asarray(content["y"])
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X must be uint8 of shape (32, 32, 3, N), found {x.dtype} {x.shape}")
    if raw.size != x.shape[3] or raw.dtype.kind not in "uif":
        raise DataError(f"{path}: {x.shape[3]} images but y is {raw.dtype} of shape {raw.shape}")
    y = raw.reshape(-1).astype(np.int64)
    if (y != raw.reshape(-1)).any() or (len(y) and (y.min() < 1 or y.max() > 10)):
        raise DataError(
            f"{path}: y must hold the labels 1..10 (10 is the digit 0), found {y.min()}..{y.max()}"
        )
    return x, y % 10


def load(
    seed: int,
    *,
    root: str | None = None,
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    classes: list[str | int] = [],  # noqa: B006 - read-only default
    train_per_class: Annotated[int, Field(ge=1)] | None = None,
    test_per_class: Annotated[int, Field(ge=1)] | None = None,
    download: bool = False,
) -> DataBundle:
    """Load SVHN's cropped digits (or a subset of them) with digits held out as the OOD split.

    Args:
        seed: seed of the per-class subsampling.
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        holdout: digits (names ``"0"``-``"9"`` or indices) left out of training; their test
            images become the out-of-distribution split.
        classes: keep only these digits (default all ten).
        train_per_class: keep at most this many training images per digit.
        test_per_class: keep at most this many test images per digit.
        download: fetch the two files through torchvision when they are missing.

    Example:
        >>> bundle = load(0, test_per_class=100)  # doctest: +SKIP
        >>> bundle.test.x.shape  # doctest: +SKIP
        torch.Size([1000, 3, 32, 32])
    """
    folder = RELEASE.locate(root, download=download)
    kept, remap, held = select_classes(CLASS_NAMES, classes, holdout)
    splits = []
    for i, (split, n) in enumerate([("train", train_per_class), ("test", test_per_class)]):
        x, y = read_mat(folder / FILES[split])
        rows, labels = pick(torch.from_numpy(y), remap, n, seed + i)
        images = np.ascontiguousarray(x[..., rows.numpy()].transpose(3, 2, 0, 1))
        splits.append(Split(torch.from_numpy(images), labels))
    return split_holdout(
        name="svhn",
        modality="image",
        class_names=kept,
        train=splits[0],
        test=splits[1],
        holdout=held,
    )
