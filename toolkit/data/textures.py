"""Textures: the Describable Textures Dataset (DTD), 5,640 photographs of 47 texture
classes (``banded``, ``braided`` ... ``zigzagged``), 120 each.

Cimpoi, Maji, Kokkinos, Mohamed and Vedaldi, "Describing Textures in the Wild", CVPR 2014.

Reads the release as its archive unpacks (``dtd/images/<class>/*.jpg`` and
``dtd/labels/{train,val,test}{1..10}.txt``, lines like ``banded/banded_0002.jpg``) or as
torchvision downloads it (nested, ``dtd/dtd/...``), from ``root``, or from
``$TOOLKIT_DATA`` (default ``~/.cache/toolkit/data``); ``root`` may be the folder holding
``images/`` or any folder above it in those layouts. Class names are the sorted folder
names. The training split is the ``train`` and ``val`` lists of ``partition`` (one of the
ten official splits), the test split its ``test`` list; without the ``labels/`` files, a
stratified split seeded by ``seed`` (``test_size``) of all the images. A list line naming an
unknown class, or an image that does not exist, is a :class:`~toolkit.errors.DataError`
naming the file and line. With ``download = true`` and a network connection, torchvision
fetches the archive first.

OpenOOD v1.5 (Zhang et al. 2023) uses all Textures images as far-OOD data for CIFAR-10;
this loader reads the standard release (all of its images are the train and test splits
together), not OpenOOD's curated image lists.

Each image is decoded (:mod:`toolkit.data.pictures`), its shorter side resized to ``size``
and the centre cut out (``crop = "center"``, OpenOOD's CIFAR preprocessing) or squashed to
the square (``resize``), and kept in memory as ``uint8`` ``(N, 3, size, size)``.
``train_per_class`` and ``test_per_class`` subsample each class (seeded) before any image
is decoded; ``holdout`` classes leave training and their test images become the OOD split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, select_classes, split_holdout, stratified_split
from toolkit.data.image_folder import EXTENSIONS
from toolkit.data.pictures import Listing
from toolkit.data.release import Release, listed_file, text_lines
from toolkit.errors import DataError

MODALITY = "image"


def _fetch(root: Path) -> None:  # pragma: no cover - needs the network
    from torchvision.datasets import DTD

    DTD(str(root), split="train", partition=1, download=True)


RELEASE = Release(
    title="Textures (DTD)",
    folders=("dtd", "dtd/dtd"),
    marker=lambda p: (p / "images").is_dir(),
    looked="dtd/images/ (or dtd/dtd/images/, torchvision's layout)",
    size="about 600 MB",
    fetch=_fetch,
)


def load(
    seed: int,
    *,
    root: str | None = None,
    partition: Annotated[int, Field(ge=1, le=10)] = 1,
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.33,
    size: Annotated[int, Field(ge=4)] = 32,
    crop: Literal["resize", "center"] = "center",
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    classes: list[str | int] = [],  # noqa: B006 - read-only default
    train_per_class: Annotated[int, Field(ge=1)] | None = None,
    test_per_class: Annotated[int, Field(ge=1)] | None = None,
    download: bool = False,
) -> DataBundle:
    """Load the Describable Textures Dataset, one of its ten official splits.

    Args:
        seed: seed of the per-class subsampling (and of the split without label files).
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        partition: which official split (1 to 10): train = its train and val lists,
            test = its test list.
        test_size: fraction of each class in the test split when the release has no
            ``labels/`` files (default 0.33, as the official splits).
        size: side of the square images (default 32).
        crop: ``center`` (default: resize the shorter side, cut the centre) or ``resize``
            (squash to the square).
        holdout: classes (names or indices) left out of training; their test images become
            the out-of-distribution split.
        classes: keep only these classes (default all 47).
        train_per_class: keep at most this many training images per class.
        test_per_class: keep at most this many test images per class.
        download: fetch the archive through torchvision when it is missing.

    Example:
        >>> bundle = load(0, test_per_class=10)  # doctest: +SKIP
        >>> bundle.test.x.shape  # doctest: +SKIP
        torch.Size([470, 3, 32, 32])
    """
    folder = RELEASE.locate(root, download=download)
    names = class_names(folder)
    listed = _partition(folder, names, partition)
    train, test = listed if listed is not None else _split(folder, names, test_size, seed)
    kept, remap, held = select_classes(names, classes, holdout)
    return split_holdout(
        name="textures",
        modality="image",
        class_names=kept,
        train=train.decode(remap, train_per_class, seed, size=size, crop=crop),
        test=test.decode(remap, test_per_class, seed + 1, size=size, crop=crop),
        holdout=held,
    )


def class_names(folder: Path) -> list[str]:
    """The sorted class folder names under ``images/``."""
    names = sorted(p.name for p in (folder / "images").iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise DataError(f"{folder / 'images'}: expected one folder per texture class, found {len(names)}")
    return names


def read_list(path: Path, folder: Path, names: list[str]) -> Listing:
    """The images a label file lists (``<class>/<file>.jpg`` a line), with their lines."""
    index = {name: i for i, name in enumerate(names)}
    files, labels, where = [], [], []
    for number, line in enumerate(text_lines(path), start=1):
        entry = line.strip()
        if not entry:
            continue
        label = index.get(entry.split("/", 1)[0]) if "/" in entry else None
        if label is None:
            raise DataError(
                f"{path} line {number}: {entry!r} is not <class>/<image> of a class folder in "
                f"{folder / 'images'}"
            )
        files.append(listed_file(folder / "images", entry, f"{path} line {number}"))
        labels.append(label)
        where.append(f"{path} line {number}")
    return Listing(files, torch.tensor(labels, dtype=torch.long), where)


def _partition(folder: Path, names: list[str], partition: int) -> tuple[Listing, Listing] | None:
    """The train (train + val lists) and test images of an official split; ``None`` when the
    release has no label files at all."""
    paths = {s: folder / "labels" / f"{s}{partition}.txt" for s in ("train", "val", "test")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if len(missing) == len(paths) and not any((folder / "labels").glob("test*.txt")):
        return None
    if missing:
        raise DataError(f"{folder / 'labels'}: missing {', '.join(missing)} of partition {partition}")
    train, val, test = (read_list(p, folder, names) for p in paths.values())
    assert train.where is not None and val.where is not None
    joined = Listing(train.files + val.files, torch.cat([train.y, val.y]), train.where + val.where)
    return joined, test


def _split(folder: Path, names: list[str], test_size: float, seed: int) -> tuple[Listing, Listing]:
    """All the images of the class folders, split stratified and seeded."""
    files, labels = [], []
    for label, name in enumerate(names):
        found = sorted(p for p in (folder / "images" / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        files += found
        labels += [label] * len(found)
    everything = Listing(files, torch.tensor(labels, dtype=torch.long))
    train, test = stratified_split(everything.y, test_size, seed, names=names, source=f"{folder / 'images'}")
    return everything.subset(train), everything.subset(test)
