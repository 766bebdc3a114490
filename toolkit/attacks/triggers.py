"""Backdoor triggers on ``uint8`` images ``(N, C, H, W)``: patterns, stamping and blending.

Everything here works on images as stored (``uint8``, channels first), so a poisoned
training set holds exact pixel values that can be exported and compared with other
libraries pixel for pixel.

Example:
    >>> import torch
    >>> x = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    >>> stamp(x, pattern("white_square", size=2, channels=1), "bottom_right")[0, 0].tolist()
    [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 255, 255], [0, 0, 255, 255]]
"""

from __future__ import annotations

from pathlib import Path

import torch

from toolkit.errors import DataError

#: Built-in patterns; anything else is read as the path of an image file.
PATTERNS = ("white_square", "black_square", "checkerboard", "art_pattern")
#: The four white pixels of IBM ART's ``add_pattern_bd`` in a 3x3 square; the other five keep
#: the image's own values.
ART_PATTERN = ((0, 2), (1, 1), (2, 0), (2, 2))
#: Named positions of a patch; ``[row, col]`` (its top-left pixel) is also accepted.
POSITIONS = ("bottom_right", "bottom_left", "top_right", "top_left", "center")


def pattern(name: str, *, size: int | tuple[int, int], channels: int) -> torch.Tensor:
    """A trigger image ``(channels, h, w)`` of ``uint8``.

    ``white_square`` is all 255, ``black_square`` all 0, ``checkerboard`` alternates 255
    and 0 starting with 255 at the top-left pixel (the BadNets pattern, Gu et al. 2017).
    ``art_pattern`` is IBM ART's ``add_pattern_bd``: four white pixels in a 3x3 square (its
    size is fixed), stamped through :func:`mask`. Any other name is an image file (PNG,
    JPEG...), resized to ``size`` with bilinear filtering and converted to ``channels``
    (1: grayscale, 3: RGB).
    """
    if name == "art_pattern":
        size = 3
    h, w = (size, size) if isinstance(size, int) else size
    if name in ("white_square", "art_pattern"):
        return torch.full((channels, h, w), 255, dtype=torch.uint8)
    if name == "black_square":
        return torch.zeros((channels, h, w), dtype=torch.uint8)
    if name == "checkerboard":
        rows = torch.arange(h).view(-1, 1)
        cols = torch.arange(w).view(1, -1)
        board = ((rows + cols) % 2 == 0).to(torch.uint8) * 255
        return board.expand(channels, h, w).clone()
    return image_file(name, size=(h, w), channels=channels)


def mask(name: str, patch: torch.Tensor) -> torch.Tensor | None:
    """Which pixels of ``patch`` a pattern sets (``None``: all of them)."""
    if name != "art_pattern":
        return None
    out = torch.zeros(patch.shape[-2:], dtype=torch.bool)
    for row, col in ART_PATTERN:
        out[row, col] = True
    return out


def image_file(path: str, *, size: tuple[int, int], channels: int) -> torch.Tensor:
    """An image file as ``uint8`` ``(channels, h, w)``; a missing or unreadable file is a DataError."""
    from PIL import Image

    from toolkit.data.pictures import decoded

    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(
            f"trigger '{path}' is neither a built-in pattern ({', '.join(PATTERNS)}) nor an image file"
        )
    img = decoded(file, grayscale=channels == 1, what="the trigger image")
    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return data.view(size[0], size[1], -1).permute(2, 0, 1).contiguous()


def corner(
    position: str | list[int], *, image: tuple[int, int], patch: tuple[int, int], margin: int
) -> tuple[int, int]:
    """The top-left pixel ``(row, col)`` of a ``patch`` placed at ``position`` in ``image``,
    ``margin`` pixels from the edges it touches."""
    (H, W), (h, w) = image, patch
    if h + margin > H or w + margin > W:
        raise ValueError(f"a {h}x{w} trigger {margin} pixels from the edge does not fit a {H}x{W} image")
    if isinstance(position, list | tuple):
        row, col = (int(v) for v in position)
    else:
        row = {"bottom": H - h - margin, "top": margin}.get(position.split("_")[0], (H - h) // 2)
        col = {"right": W - w - margin, "left": margin}.get(position.split("_")[-1], (W - w) // 2)
    if not (0 <= row <= H - h and 0 <= col <= W - w):
        raise ValueError(f"a {h}x{w} trigger at {position} falls outside a {H}x{W} image")
    return row, col


def stamp(
    x: torch.Tensor,
    patch: torch.Tensor,
    position: str | list[int],
    *,
    margin: int = 0,
    where: torch.Tensor | None = None,
) -> torch.Tensor:
    """``x`` (``uint8`` ``(N, C, H, W)``) with ``patch`` (``(C, h, w)``) pasted at ``position``;
    only the pixels ``where`` is true, if given (see :func:`mask`)."""
    _check_images(x)
    row, col = corner(position, image=tuple(x.shape[-2:]), patch=tuple(patch.shape[-2:]), margin=margin)  # type: ignore[arg-type]
    out = x.clone()
    region = out[:, :, row : row + patch.shape[-2], col : col + patch.shape[-1]]
    patch = patch.to(x.device)
    region[:] = patch if where is None else torch.where(where.to(x.device), patch, region)
    return out


def blend(x: torch.Tensor, image: torch.Tensor, alpha: float) -> torch.Tensor:
    """``round((1 - alpha) * x + alpha * image)`` on ``uint8`` images (Chen et al. 2017)."""
    _check_images(x)
    mixed = (1.0 - alpha) * x.float() + alpha * image.to(x.device).float()
    return mixed.round().clamp(0, 255).to(torch.uint8)


def _check_images(x: torch.Tensor) -> None:
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise ValueError(
            f"triggers apply to uint8 images (N, C, H, W); got {x.dtype} of shape {tuple(x.shape)}"
        )
