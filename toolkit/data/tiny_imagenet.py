"""Tiny ImageNet: 64x64 colour images of 200 ImageNet classes, 500 training and 50
validation images each.

Le and Yang, "Tiny ImageNet Visual Recognition Challenge", CS231N, Stanford, 2015.

Reads the ``tiny-imagenet-200`` folder as its archive unpacks, from ``root``, or from
``$TOOLKIT_DATA`` (default ``~/.cache/toolkit/data``); ``root`` may be that folder or its
parent::

    tiny-imagenet-200/
      wnids.txt                      the 200 class ids (WordNet ids), one a line
      words.txt                      <wnid> TAB <names, comma-separated>
      train/<wnid>/images/*.JPEG
      val/images/*.JPEG
      val/val_annotations.txt        <file> TAB <wnid> TAB <4 box coordinates>

The training split is ``train/``; the test split is the validation images (the official
test images have no labels). Classes are in ``wnids.txt`` order, named by the first name
``words.txt`` gives each (``goldfish``; a name two classes share gets its wnid,
``crane (n02012849)``). An annotation naming a wnid not in ``wnids.txt``, or an image that
does not exist, is a :class:`~toolkit.errors.DataError` naming the file and line. There is
no torchvision class for it: with ``download = true`` the error says where to get it
(http://cs231n.stanford.edu/tiny-imagenet-200.zip, about 240 MB, to unpack in the data
folder).

OpenOOD v1.5 (Zhang et al. 2023) uses Tiny ImageNet validation images, less those of
classes that overlap CIFAR-10's, as near-OOD data for CIFAR-10; this loader reads the
standard release (use ``classes`` or ``holdout`` to leave classes out), not OpenOOD's
curated image lists.

Each image is decoded (:mod:`toolkit.data.pictures`), its shorter side resized to ``size``
and the centre cut out (``crop = "center"``, OpenOOD's CIFAR preprocessing) or squashed to
the square (``resize``), and kept in memory as ``uint8`` ``(N, 3, size, size)``.
``train_per_class`` and ``test_per_class`` subsample each class (seeded) before any image
is decoded; ``holdout`` classes leave training and their test images become the OOD split.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, select_classes, split_holdout
from toolkit.data.image_folder import EXTENSIONS
from toolkit.data.pictures import Listing
from toolkit.data.release import Release, listed_file, text_lines
from toolkit.errors import DataError

MODALITY = "image"
FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"

RELEASE = Release(
    title="Tiny ImageNet",
    folders=(FOLDER,),
    marker=lambda p: (p / "wnids.txt").is_file(),
    looked=f"{FOLDER}/ (wnids.txt, words.txt, train/, val/)",
    size="about 240 MB",
    fix=f"download {URL} (about 240 MB) and unpack it in the data folder (it makes {FOLDER}/)",
)


def load(
    seed: int,
    *,
    root: str | None = None,
    size: Annotated[int, Field(ge=4)] = 32,
    crop: Literal["resize", "center"] = "center",
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    classes: list[str | int] = [],  # noqa: B006 - read-only default
    train_per_class: Annotated[int, Field(ge=1)] | None = None,
    test_per_class: Annotated[int, Field(ge=1)] | None = None,
    download: bool = False,
) -> DataBundle:
    """Load Tiny ImageNet: ``train/`` for training, the labelled validation images for testing.

    Args:
        seed: seed of the per-class subsampling.
        root: the data folder (default ``$TOOLKIT_DATA`` or ``~/.cache/toolkit/data``).
        size: side of the square images (default 32; the originals are 64).
        crop: ``center`` (default: resize the shorter side, cut the centre) or ``resize``
            (squash to the square).
        holdout: classes (names or indices in ``wnids.txt`` order) left out of training;
            their test images become the out-of-distribution split.
        classes: keep only these classes (default all 200).
        train_per_class: keep at most this many training images per class.
        test_per_class: keep at most this many test images per class.
        download: the toolkit cannot download Tiny ImageNet; set, a missing folder's error
            says where to get it.

    Example:
        >>> bundle = load(0, train_per_class=50, test_per_class=10)  # doctest: +SKIP
        >>> bundle.info.num_classes  # doctest: +SKIP
        200
    """
    folder = RELEASE.locate(root, download=download)
    wnids = read_wnids(folder / "wnids.txt")
    names = class_names(folder / "words.txt", wnids)
    kept, remap, held = select_classes(names, classes, holdout)
    return split_holdout(
        name="tiny_imagenet",
        modality="image",
        class_names=kept,
        train=_train(folder, wnids).decode(remap, train_per_class, seed, size=size, crop=crop),
        test=_val(folder, wnids).decode(remap, test_per_class, seed + 1, size=size, crop=crop),
        holdout=held,
    )


def read_wnids(path: Path) -> list[str]:
    """The class ids of ``wnids.txt``, one a line; a repeated one is a DataError."""
    wnids: list[str] = []
    for number, line in enumerate(text_lines(path), start=1):
        wnid = line.strip()
        if wnid in wnids:
            raise DataError(f"{path} line {number}: {wnid} is listed twice")
        if wnid:
            wnids.append(wnid)
    if len(wnids) < 2:
        raise DataError(f"{path}: lists {len(wnids)} class id(s); Tiny ImageNet has 200")
    return wnids


def class_names(path: Path, wnids: list[str]) -> list[str]:
    """Each wnid's first name in ``words.txt`` (``<wnid> TAB <name>, <name> ...``), made
    unique with the wnid where two classes share one."""
    if not path.is_file():
        raise DataError(f"{path}: missing (the class names); it is part of the Tiny ImageNet release")
    wanted, first = set(wnids), {}
    for number, line in enumerate(text_lines(path), start=1):
        wnid, tab, words = line.partition("\t")
        if line.strip() and not tab:
            raise DataError(f"{path} line {number}: expected <wnid> TAB <names>, found {line!r}")
        if wnid in wanted and wnid not in first:
            first[wnid] = words.split(",")[0].strip() or wnid
    missing = [w for w in wnids if w not in first]
    if missing:
        raise DataError(f"{path}: no names for {', '.join(missing[:5])} of wnids.txt")
    shared = Counter(first.values())
    return [first[w] if shared[first[w]] == 1 else f"{first[w]} ({w})" for w in wnids]


def _train(folder: Path, wnids: list[str]) -> Listing:
    """The images of ``train/<wnid>/images/``, in ``wnids.txt`` order."""
    files, labels = [], []
    for label, wnid in enumerate(wnids):
        images = folder / "train" / wnid / "images"
        if not images.is_dir():
            raise DataError(f"{images}: missing; {folder / 'wnids.txt'} lists {wnid}")
        found = sorted(p for p in images.iterdir() if p.suffix.lower() in EXTENSIONS)
        files += found
        labels += [label] * len(found)
    return Listing(files, torch.tensor(labels, dtype=torch.long))


def _val(folder: Path, wnids: list[str]) -> Listing:
    """The validation images of ``val/val_annotations.txt`` (``<file> TAB <wnid> ...``)."""
    path = folder / "val" / "val_annotations.txt"
    if not path.is_file():
        raise DataError(f"{path}: missing (the validation labels); it is part of the Tiny ImageNet release")
    index = {wnid: i for i, wnid in enumerate(wnids)}
    files, labels, where = [], [], []
    for number, line in enumerate(text_lines(path), start=1):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2:
            raise DataError(f"{path} line {number}: expected <file> TAB <wnid> ..., found {line!r}")
        if fields[1].strip() not in index:
            raise DataError(f"{path} line {number}: unknown wnid {fields[1].strip()!r} (not in wnids.txt)")
        files.append(listed_file(folder / "val" / "images", fields[0].strip(), f"{path} line {number}"))
        labels.append(index[fields[1].strip()])
        where.append(f"{path} line {number}")
    return Listing(files, torch.tensor(labels, dtype=torch.long), where)
