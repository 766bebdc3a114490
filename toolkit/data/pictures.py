"""One way to open an image file the user gives (an image folder's images, a trigger image).

Pillow decodes any format it knows; this turns every way a file can fail into one
:class:`~toolkit.errors.DataError` that names the file: not an image, truncated, unreadable,
or a header that claims more pixels than Pillow will decode (``Image.MAX_IMAGE_PIXELS``,
about 179 million: a decompression bomb, refused before any pixel is decoded).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import DataError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["decoded"]


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
