"""Places365: scene photographs of 365 categories (``airfield``, ``general_store/indoor``
...), from the validation release of Places365-Standard (36,500 images, 100 a category).

Zhou, Lapedriza, Khosla, Oliva and Torralba, "Places: A 10 Million Image Database for
Scene Recognition", IEEE TPAMI 40(6), 2017.

Reads torchvision's layout from ``root``, or from ``$TOOLKIT_DATA`` (default
``~/.cache/toolkit/data``); ``root`` may be that folder or its parent (the files in
``places365/``)::

    categories_places365.txt      /a/airfield 0   (a category path and its index a line)
    places365_val.txt             Places365_val_00000001.jpg 165
    val_256/                      the images at 256x256 (or val_large/, full size)

Only the validation release is supported (the training release is 1.8 million images):
its images are split into train and test, stratified and seeded, with ``test_size``
(default half). Class names are the category paths less the leading ``/x/``
(``airfield``, ``general_store/indoor``), in index order. A line that does not parse, an
index out of range, or a listed image that does not exist is a
:class:`~toolkit.errors.DataError` naming the file and line. With ``download = true`` and
a network connection, torchvision fetches the small validation images and the file lists
into ``places365/`` first.

OpenOOD v1.5 (Zhang et al. 2023) uses a subset of Places365 images as far-OOD data for
CIFAR-10; this loader reads the standard validation release, not OpenOOD's curated image
lists.

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
from toolkit.data.pictures import Listing
from toolkit.data.release import Release, listed_file, text_lines
from toolkit.errors import DataError

MODALITY = "image"
CATEGORIES, VAL = "categories_places365.txt", "places365_val.txt"


def _fetch(root: Path) -> None:  # pragma: no cover - needs the network
    from torchvision.datasets import Places365

    Places365(str(root / "places365"), split="val", small=True, download=True)


RELEASE = Release(
    title="Places365",
    folders=("places365", "Places365"),
    marker=lambda p: (p / CATEGORIES).is_file() and (p / VAL).is_file(),
    looked=f"{CATEGORIES}, {VAL} and val_256/ (also under places365/)",
    size="about 530 MB",
    fetch=_fetch,
)


def load(
    seed: int,
    *,
    root: str | None = None,
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.5,
    size: Annotated[int, Field(ge=4)] = 32,
    crop: Literal["resize", "center"] = "center",
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    classes: list[str | int] = [],  # noqa: B006 - read-only default
    train_per_class: Annotated[int, Field(ge=1)] | None = None,
    test_per_class: Annotated[int, Field(ge=1)] | None = None,
    download: bool = False,
) -> DataBundle:
    """Load the Places365 validation images, split into train and test.

    Args:
        seed: seed of the stratified split and of the per-class subsampling.
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        test_size: fraction of each category in the test split (default 0.5).
        size: side of the square images (default 32).
        crop: ``center`` (default: resize the shorter side, cut the centre) or ``resize``
            (squash to the square).
        holdout: categories (names or indices) left out of training; their test images
            become the out-of-distribution split.
        classes: keep only these categories (default all 365).
        train_per_class: keep at most this many training images per category.
        test_per_class: keep at most this many test images per category.
        download: fetch the validation release through torchvision when it is missing.

    Example:
        >>> bundle = load(0, test_per_class=10)  # doctest: +SKIP
        >>> bundle.info.class_names[:2]  # doctest: +SKIP
        ['airfield', 'airplane_cabin']
    """
    folder = RELEASE.locate(root, download=download)
    names = read_categories(folder / CATEGORIES)
    everything = read_val(folder, len(names))
    train, test = stratified_split(everything.y, test_size, seed, names=names, source=str(folder / VAL))
    kept, remap, held = select_classes(names, classes, holdout)
    return split_holdout(
        name="places365",
        modality="image",
        class_names=kept,
        train=everything.subset(train).decode(remap, train_per_class, seed, size=size, crop=crop),
        test=everything.subset(test).decode(remap, test_per_class, seed + 1, size=size, crop=crop),
        holdout=held,
    )


def read_categories(path: Path) -> list[str]:
    """The category names of ``categories_places365.txt`` (``/a/airfield 0`` a line), in
    index order, without the leading ``/x/``; indices must be ``0..K-1``, each once."""
    found: dict[int, str] = {}
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        category, _, index = line.strip().rpartition(" ")
        parts = category.split("/", 2)
        if len(parts) < 3 or parts[0] or not parts[2] or not index.isdigit():
            raise DataError(f"{path} line {number}: expected '/<letter>/<category> <index>', found {line!r}")
        if int(index) in found:
            raise DataError(f"{path} line {number}: index {index} is given twice")
        found[int(index)] = parts[2]
    if sorted(found) != list(range(len(found))) or len(found) < 2:
        raise DataError(f"{path}: the indices must be 0..K-1 with K >= 2, found {sorted(found)[:5]}...")
    return [found[i] for i in range(len(found))]


def read_val(folder: Path, num_classes: int) -> Listing:
    """The images of ``places365_val.txt`` (``<file> <index>`` a line), in ``val_256/``
    (else ``val_large/``)."""
    images = next((folder / d for d in ("val_256", "val_large") if (folder / d).is_dir()), None)
    if images is None:
        raise DataError(f"{folder}: no val_256/ or val_large/ folder of Places365 validation images")
    path = folder / VAL
    files, labels, where = [], [], []
    for number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        name, _, label = line.strip().rpartition(" ")
        if not name or not label.isdigit() or int(label) >= num_classes:
            raise DataError(
                f"{path} line {number}: expected '<file> <index>' with an index in 0..{num_classes - 1}, "
                f"found {line!r}"
            )
        files.append(listed_file(images, name, f"{path} line {number}"))
        labels.append(int(label))
        where.append(f"{path} line {number}")
    return Listing(files, torch.tensor(labels, dtype=torch.long), where)
