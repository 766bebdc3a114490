"""MNIST: 28x28 grayscale handwritten digits, 10 classes, from the original IDX files.

LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied to Document
Recognition", Proceedings of the IEEE 86(11), 1998.

Reads the four IDX files as torchvision keeps them in ``MNIST/raw/``:
``train-images-idx3-ubyte`` (60,000 images), ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` (10,000) and ``t10k-labels-idx1-ubyte``, each plain or gzipped
(``.gz``; the plain file is read when both are there). ``root`` may be that ``raw`` folder,
``MNIST`` or the folder above it; left out, it is ``$TOOLKIT_DATA`` (default
``~/.cache/toolkit/data``). The IDX format is parsed here with NumPy: a big-endian magic
number (2051 for images, 2049 for labels), the sizes, then the bytes. A wrong magic
number, a size that is not 28x28, a file shorter or longer than its header says, labels
out of range or a label count that differs from the image count is a
:class:`~toolkit.errors.DataError` naming the file. With ``download = true`` and a network
connection, torchvision fetches the files first.

OpenOOD v1.5 (Zhang et al. 2023) uses MNIST as far-OOD data for CIFAR-10; this loader
reads the standard release, not OpenOOD's curated image lists. The images keep MNIST's
1x28x28 pixels; OpenOOD feeds them to a CIFAR-10 model as 3x32x32 (converted to RGB and
resized).

Images stay in memory as ``uint8`` tensors ``(N, 1, 28, 28)``; ``holdout`` classes leave
training and their test images become the OOD split; ``classes`` keeps a subset;
``train_per_class`` and ``test_per_class`` subsample each class (seeded).
"""

from __future__ import annotations

import gzip
import zlib
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
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGES, LABELS = 2051, 2049


def _fetch(root: Path) -> None:  # pragma: no cover - needs the network
    from torchvision.datasets import MNIST

    MNIST(str(root), train=True, download=True)


def _file(folder: Path, name: str) -> Path | None:
    """``name`` in ``folder``, plain or gzipped, if there."""
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


RELEASE = Release(
    title="MNIST",
    folders=("raw", "MNIST/raw"),
    marker=lambda p: _file(p, FILES["train"][0]) is not None,
    looked="MNIST/raw/ (train-images-idx3-ubyte, t10k-images-idx3-ubyte and their labels, plain or .gz)",
    size="about 12 MB",
    fetch=_fetch,
)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The ``uint8`` array of one IDX file (gzipped when its name ends in ``.gz``), checked
    against its header: the ``magic`` number (2051: images, 2049: labels) and the sizes."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the file ({type(exc).__name__}: {exc})") from exc
    ndim = magic - 2048
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, shorter than an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        kind = "images" if magic == IMAGES else "labels"
        raise DataError(f"{path}: not an IDX file of MNIST {kind}: magic number {found}, expected {magic}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        what = "truncated" if body < expected else "too long"
        raise DataError(f"{path}: {what}: its header says {shape} ({expected} bytes) but it holds {body}")
    if ndim == 3 and shape[1:] != (28, 28):
        raise DataError(f"{path}: images of {shape[1]}x{shape[2]} pixels; MNIST images are 28x28")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 1, 28, 28)`` and labels ``(N,)`` of the ``train`` or ``test`` files."""
    paths = [_file(folder, name) for name in FILES[split]]
    missing = [name for name, p in zip(FILES[split], paths, strict=True) if p is None]
    if missing or paths[0] is None or paths[1] is None:
        raise DataError(f"{folder}: missing {' and '.join(missing)} (plain or .gz) of the MNIST release")
    images, labels = read_idx(paths[0], IMAGES), read_idx(paths[1], LABELS)
    if len(labels) != len(images):
        raise DataError(f"{paths[1]}: {len(labels)} labels for the {len(images)} images of {paths[0]}")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{paths[1]}: labels must lie in 0..9, found {labels.max()}")
    return images[:, None], labels.astype(np.int64)


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
    """Load MNIST (or a subset of its digits) with digits held out as the OOD split.

    Args:
        seed: seed of the per-class subsampling.
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        holdout: digits (names ``"0"``-``"9"`` or indices) left out of training; their test
            images become the out-of-distribution split.
        classes: keep only these digits (default all ten).
        train_per_class: keep at most this many training images per digit.
        test_per_class: keep at most this many test images per digit.
        download: fetch the files through torchvision when they are missing.

    Example:
        >>> bundle = load(0, holdout=["9"])  # doctest: +SKIP
        >>> bundle.train.x.shape[1:]  # doctest: +SKIP
        torch.Size([1, 28, 28])
    """
    folder = RELEASE.locate(root, download=download)
    kept, remap, held = select_classes(CLASS_NAMES, classes, holdout)
    splits = []
    for i, (split, n) in enumerate([("train", train_per_class), ("test", test_per_class)]):
        x, y = read_split(folder, split)
        rows, labels = pick(torch.from_numpy(y), remap, n, seed + i)
        splits.append(Split(torch.from_numpy(x)[rows], labels))
    return split_holdout(
        name="mnist",
        modality="image",
        class_names=kept,
        train=splits[0],
        test=splits[1],
        holdout=held,
    )
