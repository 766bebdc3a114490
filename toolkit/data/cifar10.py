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
from toolkit.data.base import DataBundle, Split, data_root, resolve_classes, split_holdout
from toolkit.errors import DataError

MODALITY = "image"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def find_folder(root: str | None) -> Path | None:
    """The ``cifar-10-batches-py`` folder at or under ``root`` (or the data root), if any."""
    base = Path(root).expanduser() if root else data_root()
    for candidate in (base, base / FOLDER):
        if (candidate / "test_batch").is_file() and (candidate / "data_batch_1").is_file():
            return candidate
    return None


def read_batch(path: Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` of one pickle batch file.

    The file is unpickled without running code (:mod:`toolkit.data.safepickle`) and checked:
    a dict with ``data``, ``uint8`` of shape ``(N, 3072)`` (rows of 1024 red, then green,
    then blue values), and ``labels``, ``N`` integers in ``0..num_classes-1``.
    """
    batch = safepickle.load(path)
    bad = f"{path} is not a CIFAR-10 batch file"
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(map(str, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{bad}: expected a dict with data and labels, found {found}")
    raw = batch[b"data"]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != 3072:
        what = f"{raw.dtype} {raw.shape}" if isinstance(raw, np.ndarray) else type(raw).__name__
        raise DataError(f"{bad}: data must be uint8 of shape (N, 3072), found {what}")
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{bad}: labels are not integers ({exc})") from exc
    if labels.ndim != 1 or len(labels) != len(raw):
        raise DataError(f"{path}: {len(raw)} images but labels of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{path}: labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}"
        )
    return raw.reshape(-1, 3, 32, 32), labels


def _subsample(y: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    if per_class is None:
        return torch.arange(len(y))
    g = torch.Generator().manual_seed(seed)
    keep = []
    for k in torch.unique(y):
        idx = torch.nonzero(y == k).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(keep).sort().values


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
    folder = _locate(root, download=download)
    names = _label_names(folder)
    x_train, y_train, x_test, y_test = _read_all(folder, len(names))

    held_names = [names[i] for i in resolve_classes(names, holdout, "holdout")]  # indices of the full list
    if classes:
        kept = resolve_classes(names, classes, "classes")
        outside = [h for h in held_names if names.index(h) not in kept]
        if outside:
            raise DataError(f"dataset.holdout: {outside} not among dataset.classes")
        remap = torch.full((len(names),), -1, dtype=torch.long)
        remap[kept] = torch.arange(len(kept))
        train_mask, test_mask = remap[y_train] >= 0, remap[y_test] >= 0
        x_train, y_train = x_train[train_mask], remap[y_train[train_mask]]
        x_test, y_test = x_test[test_mask], remap[y_test[test_mask]]
        names = [names[i] for i in kept]
    tr = _subsample(y_train, train_per_class, seed)
    te = _subsample(y_test, test_per_class, seed + 1)
    return split_holdout(
        name="cifar10",
        modality="image",
        class_names=names,
        train=Split(x_train[tr].contiguous(), y_train[tr]),
        test=Split(x_test[te].contiguous(), y_test[te]),
        holdout=held_names,
    )


def _locate(root: str | None, *, download: bool) -> Path:
    """The ``cifar-10-batches-py`` folder, downloaded first when missing and ``download`` is set.

    Raises:
        DataError: the folder is missing (and was not downloaded).
    """
    folder = find_folder(root)
    if folder is None and download:
        folder = _download(Path(root).expanduser() if root else data_root())
    if folder is None:
        where = Path(root).expanduser() if root else data_root()
        raise DataError(
            f"CIFAR-10 not found: looked for {FOLDER}/ (data_batch_1..5, test_batch) in {where}. "
            "Set dataset.root or TOOLKIT_DATA to the folder that holds it, or set "
            "dataset.download = true to fetch it (about 170 MB, needs a network connection)."
        )
    return folder


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


def _label_names(folder: Path) -> list[str]:
    """The class names of ``batches.meta`` when the folder has it, else :data:`CLASS_NAMES`."""
    names = CLASS_NAMES
    meta = folder / "batches.meta"
    if meta.is_file():
        raw = safepickle.load(meta)
        found = raw.get(b"label_names") if isinstance(raw, dict) else None
        if (
            not isinstance(found, list)
            or len(found) < 2
            or not all(isinstance(n, bytes | str) for n in found)
        ):
            raise DataError(f"{meta} is not a CIFAR-10 meta file: expected a dict with a list of label_names")
        names = [n.decode() if isinstance(n, bytes) else n for n in found]
    return names


def _download(root: Path) -> Path | None:  # pragma: no cover - needs the network
    try:
        from torchvision.datasets import CIFAR10

        CIFAR10(str(root), train=True, download=True)
    except Exception as exc:
        raise DataError(
            f"could not download CIFAR-10 into {root} ({type(exc).__name__}: {exc}); "
            "download it by hand and set dataset.root to its folder"
        ) from exc
    return find_folder(str(root))
