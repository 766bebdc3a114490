"""CIFAR-10: 32x32 colour images of 10 classes, from the original python-pickle files.

Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.

Reads the ``cifar-10-batches-py`` folder (``data_batch_1`` ... ``data_batch_5``,
``test_batch``, ``batches.meta``) from ``root``, or from ``$TOOLKIT_DATA`` (default
``~/.cache/toolkit/data``); ``root`` may be that folder or its parent. With
``download = true`` and a network connection, torchvision fetches the official archive
there first. The files are the data set's own format, Python pickles; they are read with
an allow-list of NumPy globals (:mod:`toolkit.data.safepickle`), so a crafted file cannot
run code, and checked (all five training batches, ``uint8`` rows of 3072 values, labels in
range), each problem a :class:`~toolkit.errors.DataError` naming the file.

Images stay in memory as ``uint8`` tensors ``(N, 3, 32, 32)``; ``holdout`` classes leave
training and their test images become the OOD split; ``classes`` keeps a subset;
``train_per_class`` and ``test_per_class`` subsample each class (seeded) for quick runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from toolkit.data import safepickle
from toolkit.data.base import DataBundle, Split, pick, select_classes, split_holdout
from toolkit.data.release import Release
from toolkit.errors import DataError

MODALITY = "image"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def _fetch(root: Path) -> None:  # pragma: no cover - needs the network
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)


RELEASE = Release(
    title="CIFAR-10",
    folders=(FOLDER,),
    marker=lambda p: (p / "test_batch").is_file() and (p / "data_batch_1").is_file(),
    looked=f"{FOLDER}/ (data_batch_1..5, test_batch)",
    size="about 170 MB",
    fetch=_fetch,
)


def find_folder(root: str | None) -> Path | None:
    """The ``cifar-10-batches-py`` folder at or under ``root`` (or the data root), if any."""
    return RELEASE.find(root)


def read_batch(
    path: Path, num_classes: int = 10, *, labels: bytes = b"labels", title: str = "CIFAR-10"
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` of one pickle batch file.

    The file is unpickled without running code (:mod:`toolkit.data.safepickle`) and checked:
    a dict with ``data``, ``uint8`` of shape ``(N, 3072)`` (rows of 1024 red, then green,
    then blue values), and the key ``labels`` (CIFAR-100's ``fine_labels`` or
    ``coarse_labels``), ``N`` integers in ``0..num_classes-1``; ``title`` names the data set
    in the errors.
    """
    batch = safepickle.load(path)
    bad = f"{path} is not a {title} batch file"
    key = labels.decode()
    if not isinstance(batch, dict) or b"data" not in batch or labels not in batch:
        found = sorted(map(str, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{bad}: expected a dict with data and {key}, found {found}")
    raw = batch[b"data"]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3072:
        what = f"{raw.dtype} {raw.shape}" if isinstance(raw, np.ndarray) else type(raw).__name__
        raise DataError(f"{bad}: data must be uint8 of shape (N, 3072), found {what}")
    try:
        y = np.asarray(batch[labels], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{bad}: {key} are not integers ({exc})") from exc
    if y.ndim != 1 or len(y) != len(raw):
        raise DataError(f"{path}: {len(raw)} images but {key} of shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(f"{path}: {key} must lie in 0..{num_classes - 1}, found {y.min()}..{y.max()}")
    return raw.reshape(-1, 3, 32, 32), y


def read_names(path: Path, key: bytes, title: str) -> list[str]:
    """The list of class names under ``key`` of a pickled meta file (``batches.meta``,
    CIFAR-100's ``meta``), unpickled without running code; anything else is a DataError
    naming the file."""
    raw = safepickle.load(path)
    found = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(found, list) or len(found) < 2 or not all(isinstance(n, bytes | str) for n in found):
        raise DataError(f"{path} is not a {title} meta file: expected a dict with a list of {key.decode()}")
    return [n.decode() if isinstance(n, bytes) else n for n in found]


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
    """Load CIFAR-10 (or a subset of its classes) with classes held out as the OOD split.

    Args:
        seed: seed of the per-class subsampling.
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        holdout: classes (names, or indices among all ten) left out of training; their test
            images become the out-of-distribution split (``["frog"]`` in the reference protocol).
        classes: keep only these classes (default all ten), e.g. ``["cat", "dog"]``.
        train_per_class: keep at most this many training images per class.
        test_per_class: keep at most this many test images per class.
        download: fetch the official archive through torchvision when it is missing.

    Example:
        >>> bundle = load(0, holdout=["frog"])  # doctest: +SKIP
        >>> bundle.info.num_classes, bundle.info.holdout  # doctest: +SKIP
        (9, ['frog'])
    """
    folder = RELEASE.locate(root, download=download)
    meta = folder / "batches.meta"
    names = read_names(meta, b"label_names", "CIFAR-10") if meta.is_file() else CLASS_NAMES
    x_train, y_train, x_test, y_test = _read_all(folder, len(names))
    kept, remap, held = select_classes(names, classes, holdout)
    tr, y_tr = pick(y_train, remap, train_per_class, seed)
    te, y_te = pick(y_test, remap, test_per_class, seed + 1)
    return split_holdout(
        name="cifar10",
        modality="image",
        class_names=kept,
        train=Split(x_train[tr].contiguous(), y_tr),
        test=Split(x_test[te].contiguous(), y_te),
        holdout=held,
    )


def _read_all(
    folder: Path, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training images and labels of all five batches, then the test batch's; a missing
    training batch is an error (not a silently smaller data set)."""
    missing = [f for f in TRAIN_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"{folder}: missing {', '.join(missing)}; CIFAR-10 has {len(TRAIN_FILES)} training batches"
        )
    parts = [read_batch(folder / f, num_classes) for f in TRAIN_FILES]
    x_train = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    y_train = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    x_test, y_test = read_batch(folder / "test_batch", num_classes)
    return x_train, y_train, torch.from_numpy(x_test), torch.from_numpy(y_test)
