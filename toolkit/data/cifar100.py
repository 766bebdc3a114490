"""CIFAR-100: 32x32 colour images of 100 classes (20 superclasses), from the original
python-pickle files.

Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.

Reads the ``cifar-100-python`` folder (``train``: 50,000 images, ``test``: 10,000,
``meta``: the class names) from ``root``, or from ``$TOOLKIT_DATA`` (default
``~/.cache/toolkit/data``); ``root`` may be that folder or its parent. Each file is a
pickled dict: ``data`` ``uint8`` ``(N, 3072)``, ``fine_labels`` (100 classes) and
``coarse_labels`` (20 superclasses); ``meta`` holds ``fine_label_names`` and
``coarse_label_names``. The files are read as CIFAR-10's are (:func:`toolkit.data.cifar10.read_batch`):
unpickled without running code, each problem a :class:`~toolkit.errors.DataError`
naming the file. With ``download = true`` and a network connection, torchvision fetches
the official archive first.

OpenOOD v1.5 (Zhang et al. 2023) uses the CIFAR-100 test set as near-OOD data for
CIFAR-10; this loader reads the standard release (its ``test`` split is that set), not
OpenOOD's curated image lists.

Images stay in memory as ``uint8`` tensors ``(N, 3, 32, 32)``; ``holdout`` classes leave
training and their test images become the OOD split; ``classes`` keeps a subset;
``train_per_class`` and ``test_per_class`` subsample each class (seeded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split, pick, select_classes, split_holdout
from toolkit.data.cifar10 import read_batch, read_names
from toolkit.data.release import Release
from toolkit.errors import DataError

MODALITY = "image"
FOLDER = "cifar-100-python"


def _fetch(root: Path) -> None:  # pragma: no cover - needs the network
    from torchvision.datasets import CIFAR100

    CIFAR100(str(root), train=True, download=True)


RELEASE = Release(
    title="CIFAR-100",
    folders=(FOLDER,),
    marker=lambda p: (p / "train").is_file() and (p / "test").is_file(),
    looked=f"{FOLDER}/ (train, test, meta)",
    size="about 170 MB",
    fetch=_fetch,
)


def load(
    seed: int,
    *,
    root: str | None = None,
    labels: Literal["fine", "coarse"] = "fine",
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    classes: list[str | int] = [],  # noqa: B006 - read-only default
    train_per_class: Annotated[int, Field(ge=1)] | None = None,
    test_per_class: Annotated[int, Field(ge=1)] | None = None,
    download: bool = False,
) -> DataBundle:
    """Load CIFAR-100 (or a subset of its classes) with classes held out as the OOD split.

    Args:
        seed: seed of the per-class subsampling.
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        labels: ``fine`` (default: the 100 classes) or ``coarse`` (the 20 superclasses).
        holdout: classes (names, or indices among all of them) left out of training; their
            test images become the out-of-distribution split.
        classes: keep only these classes (default all), e.g. ``["apple", "orange"]``.
        train_per_class: keep at most this many training images per class.
        test_per_class: keep at most this many test images per class.
        download: fetch the official archive through torchvision when it is missing.

    Example:
        >>> bundle = load(0, labels="coarse", test_per_class=50)  # doctest: +SKIP
        >>> bundle.info.num_classes  # doctest: +SKIP
        20
    """
    folder = RELEASE.locate(root, download=download)
    meta = folder / "meta"
    if not meta.is_file():
        raise DataError(f"{folder}: missing meta (the class names); it is part of the CIFAR-100 release")
    names = read_names(meta, f"{labels}_label_names".encode(), "CIFAR-100")
    key = f"{labels}_labels".encode()
    x_train, y_train = read_batch(folder / "train", len(names), labels=key, title="CIFAR-100")
    x_test, y_test = read_batch(folder / "test", len(names), labels=key, title="CIFAR-100")
    kept, remap, held = select_classes(names, classes, holdout)
    tr, y_tr = pick(torch.from_numpy(y_train), remap, train_per_class, seed)
    te, y_te = pick(torch.from_numpy(y_test), remap, test_per_class, seed + 1)
    return split_holdout(
        name="cifar100",
        modality="image",
        class_names=kept,
        train=Split(torch.from_numpy(x_train)[tr], y_tr),
        test=Split(torch.from_numpy(x_test)[te], y_te),
        holdout=held,
    )
