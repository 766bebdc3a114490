"""One way to open an image file the user gives (an image folder's images, a trigger image,
the JPEGs of a published data set), and to bring it to a model's square size.

Pillow decodes any format it knows; this turns every way a file can fail into one
:class:`~toolkit.errors.DataError` that names the file: not an image, truncated, unreadable,
or a header that claims more pixels than Pillow will decode (``Image.MAX_IMAGE_PIXELS``,
about 179 million: a decompression bomb, refused before any pixel is decoded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from toolkit.data.base import Split, pick
from toolkit.errors import DataError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["Listing", "decoded", "fitted", "stacked"]


def decoded(path: Path, *, grayscale: bool, what: str = "image") -> PILImage.Image:
    """The image at ``path``, decoded and converted to ``L`` (``grayscale``) or ``RGB``.

    Args:
        path: the file.
        grayscale: one channel instead of three.
        what: how the error names the file ("image", "trigger image").

    Raises:
        DataError: the file cannot be decoded, naming it and why.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            return opened.convert("L" if grayscale else "RGB")
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"cannot read {what} {path}: its header claims more pixels than Pillow decodes ({exc}); "
            "remove the file, or shrink it first if it is a real image"
        ) from exc
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read {what} {path}: {exc}") from exc


def fitted(
    path: Path, *, size: int, grayscale: bool = False, crop: Literal["resize", "center"] = "resize"
) -> np.ndarray:
    """The image at ``path`` as ``uint8`` ``(C, size, size)``: squashed to the square
    (``resize``, bilinear) or its shorter side resized to ``size`` and the centre cut out
    (``center``, keeping the aspect ratio); an unreadable file is a DataError naming it."""
    from PIL import Image

    image = decoded(path, grayscale=grayscale)
    if crop == "center":
        scale = size / min(image.size)
        width, height = max(size, round(image.size[0] * scale)), max(size, round(image.size[1] * scale))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    else:
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if grayscale else array.transpose(2, 0, 1)


def stacked(
    files: Sequence[Path],
    *,
    size: int,
    crop: Literal["resize", "center"],
    listed: Sequence[str] | None = None,
) -> torch.Tensor:
    """The RGB images ``files``, :func:`fitted`, as one ``uint8`` tensor ``(N, 3, size, size)``.

    ``listed`` says where each file was listed (``"val_annotations.txt line 7"``), so a
    listed image that does not exist is a DataError naming the list and the line.
    """
    for i, path in enumerate(files):
        if listed is not None and not path.is_file():
            raise DataError(f"{listed[i]}: lists the image {path}, which does not exist")
    if not files:
        return torch.empty((0, 3, size, size), dtype=torch.uint8)
    return torch.from_numpy(np.stack([fitted(p, size=size, crop=crop) for p in files]))


@dataclass
class Listing:
    """Image files of a data set, not decoded yet, and their labels (indices in the full
    class list); ``where`` says where each file was listed (``"labels/test1.txt line 3"``),
    for files named by a list file rather than found in a folder."""

    files: list[Path]
    y: torch.Tensor
    where: list[str] | None = None

    def subset(self, index: torch.Tensor) -> Listing:
        """The files at the integer ``index``."""
        rows = index.tolist()
        where = [self.where[i] for i in rows] if self.where is not None else None
        return Listing([self.files[i] for i in rows], self.y[index], where)

    def decode(
        self,
        remap: torch.Tensor,
        per_class: int | None,
        seed: int,
        *,
        size: int,
        crop: Literal["resize", "center"],
    ) -> Split:
        """The kept classes' images (``remap`` of :func:`toolkit.data.base.select_classes`),
        at most ``per_class`` of each (seeded), chosen before any is decoded, then decoded
        with :func:`stacked`."""
        rows, labels = pick(self.y, remap, per_class, seed)
        chosen = self.subset(rows)
        return Split(stacked(chosen.files, size=size, crop=crop, listed=chosen.where), labels)
