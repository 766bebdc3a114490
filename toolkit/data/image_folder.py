"""Your own images: one folder per class, or one flat folder named by class, any size and
format that Pillow reads.

    root/                          root/
      cat/ img001.jpg ...            cat.1.jpg cat.2.jpg ... dog.1.jpg ...
      dog/ ...                     (the Kaggle dogs-vs-cats layout: the class is the name
                                    before the first dot)

Every image is converted to RGB (or grayscale), resized to ``size`` x ``size`` (bilinear;
or, with ``crop = "center"``, its shorter side resized to ``size`` and the centre cut out,
keeping the aspect ratio) and kept as ``uint8``; class names are sorted. The split into
train and test is stratified and seeded; ``holdout`` classes leave training and their test
images become the OOD split, as for the other image data sets.

``storage = "memory"`` (default) decodes the folder at every run and holds it in memory.
``storage = "disk"`` streams it from disk, for folders that do not fit in memory: the
images are decoded once, a chunk at a time, into one file of the artifact cache (kind
``images``, keyed by the files' names and contents, SHA-256 of their bytes, and by the
decoding settings), and every later run maps that file (:mod:`toolkit.data.mapped`), so
batches are read from disk as training and evaluation ask for them. Both give the same
tensors: an image replaced by another, even of the same size and modification time, is a
new key. A file's digest is remembered while its status is unchanged
(:mod:`toolkit.data.filedigest`), so a later run reads no image to find its key.

A file Pillow cannot decode, a decompression bomb included, is a
:class:`~toolkit.errors.DataError` naming it (:mod:`toolkit.data.pictures`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split, resolve_classes, split_holdout, stratified_split
from toolkit.data.pictures import fitted
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
    layout: Literal["auto", "folders", "names"] = "auto",
    crop: Literal["resize", "center"] = "resize",
    storage: Literal["memory", "disk"] = "memory",
) -> DataBundle:
    """Read an image folder (into memory, or memory-mapped from the artifact cache).

    Args:
        seed: seed of the stratified train/test split.
        root: the folder holding one sub-folder per class (or the images, named by class).
        size: side of the square images after resizing (default 32).
        grayscale: one channel instead of three (default false).
        holdout: classes left out of training; their test images become the OOD split.
        test_size: fraction of each class in the test split (default 0.2).
        layout: ``folders`` (one sub-folder per class), ``names`` (a flat folder of
            ``<class>.<anything>.<ext>`` files) or ``auto`` (default: ``folders`` when there
            are sub-folders).
        crop: ``resize`` (default: squash to ``size`` x ``size``) or ``center`` (resize the
            shorter side, cut the centre).
        storage: ``memory`` (default: decode at every run, hold in memory) or ``disk``
            (decode once into the artifact cache, then read memory-mapped).
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(
            f"dataset.root: {base} is not a folder; give the folder with one sub-folder per class "
            "(or the images, named <class>.<n>.<ext>)"
        )
    classes = _classes(base, layout)
    names = [name for name, _ in classes]
    files = [path for _, group in classes for path in group]
    y = torch.tensor([label for label, (_, group) in enumerate(classes) for _ in group], dtype=torch.long)
    train_idx, test_idx = stratified_split(y, test_size, seed, names=names, source=f"dataset.root {base}")
    settings: dict[str, Any] = {"size": size, "grayscale": grayscale, "crop": crop}
    if storage == "disk":
        train, test = _splits_on_disk(base, files, y, (train_idx, test_idx), names, holdout, settings)
    else:
        x = torch.from_numpy(np.stack([fitted(path, **settings) for path in files]))
        train, test = Split(x[train_idx], y[train_idx]), Split(x[test_idx], y[test_idx])
    return split_holdout(
        name=f"image_folder:{base.name}",
        modality="image",
        class_names=names,
        train=train,
        test=test,
        holdout=holdout,
    )


def _splits_on_disk(
    base: Path,
    files: list[Path],
    y: torch.Tensor,
    index: tuple[torch.Tensor, torch.Tensor],
    names: list[str],
    holdout: list[str | int],
    settings: dict[str, Any],
) -> tuple[Split, Split]:
    """Train and test splits as views of one decoded file, its rows in split order (the
    kept classes' training images, then the test images of kept and of held-out classes),
    so that no split, and no split's kept classes, is ever a copy."""
    train_idx, test_idx = index
    held = torch.tensor(resolve_classes(names, holdout, "holdout"), dtype=torch.long)
    order = [train_idx[~torch.isin(y[train_idx], held)], *_kept_first(test_idx, y, held)]
    rows = torch.cat(order)
    x = _decoded_on_disk(base, [files[i] for i in rows], settings)
    n_train = len(order[0])
    return Split(x[:n_train], y[rows[:n_train]]), Split(x[n_train:], y[rows[n_train:]])


def _kept_first(index: torch.Tensor, y: torch.Tensor, held: torch.Tensor) -> list[torch.Tensor]:
    """``index`` as two parts: the samples of kept classes, then those of held-out ones."""
    out = torch.isin(y[index], held)
    return [index[~out], index[out]]


def _decoded_on_disk(base: Path, files: list[Path], settings: dict) -> torch.Tensor:
    """``files`` decoded with ``settings`` into the artifact cache (once), memory-mapped."""
    import hashlib
    import json

    from toolkit.data.filedigest import digests
    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.streamed import open_streamed, save_streamed

    listing = [
        [str(p.relative_to(base)), sha] for p, sha in zip(files, digests(files, what="image"), strict=True)
    ]
    key = hashlib.sha256(json.dumps([str(base.resolve()), listing, settings]).encode()).hexdigest()
    store = ArtifactCache()
    found = open_streamed(store, "images", key, "x")
    if found is None:
        if store.last_problem:
            warnings.warn(store.last_problem, stacklevel=2)
        channels = 1 if settings["grayscale"] else 3
        shape = (len(files), channels, settings["size"], settings["size"])
        meta = {"description": f"{len(files)} images of {base} at {settings['size']}px", "root": str(base)}
        save_streamed(store, "images", key, name="x", dtype=torch.uint8, shape=shape, meta=meta,
                      chunks=_decode(files, settings))  # fmt: skip
        found = open_streamed(store, "images", key, "x")
        if found is None:
            raise DataError(f"the decoded images of {base} could not be read back: {store.last_problem}")
    return found[0]


def _decode(files: list[Path], settings: dict, chunk: int = 256) -> Iterator[np.ndarray]:
    """Decoded images, ``chunk`` at a time, with a progress bar on a terminal."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    steps = range(0, len(files), chunk)
    for start in track(steps, description="decoding images", console=console, transient=True,
                       disable=not console.is_terminal):  # fmt: skip
        yield np.stack([fitted(path, **settings) for path in files[start : start + chunk]])


def _classes(base: Path, layout: str) -> list[tuple[str, list[Path]]]:
    """``(class name, image files)`` in class-name order, from sub-folders or file names."""
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if layout == "folders" or (layout == "auto" and folders):
        if len(folders) < 2:
            raise DataError(
                f"dataset.root: {base} needs at least two class sub-folders, found {len(folders)}"
            )
        out = [(f.name, sorted(p for p in f.rglob("*") if p.suffix.lower() in EXTENSIONS)) for f in folders]
        empty = [f"{base / name}" for name, files in out if not files]
        if empty:
            raise DataError(f"dataset.root: the class folder {empty[0]} holds no images")
        return out
    by_name: dict[str, list[Path]] = {}
    for p in sorted(base.iterdir()):
        if p.is_file() and p.suffix.lower() in EXTENSIONS and "." in p.stem:
            by_name.setdefault(p.name.split(".", 1)[0], []).append(p)
    if len(by_name) < 2:
        raise DataError(
            f"dataset.root: {base} has neither class sub-folders nor images named <class>.<n>.<ext> "
            f"of two classes or more (found {len(by_name)} class name(s))"
        )
    return sorted(by_name.items())
