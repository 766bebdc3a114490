"""Images of one data set brought to another's shape: channels, then size.

An OOD data set rarely has the in-distribution images' shape (MNIST is 28x28 gray,
Textures is any size in colour, CIFAR-10 is 32x32 RGB). :func:`to_shape` converts a batch of
``uint8`` images ``(N, C, H, W)`` to a target ``(C', H', W')``:

- channels: gray to RGB repeats the one channel; RGB to gray takes the luma of ITU-R BT.601,
  ``0.299 R + 0.587 G + 0.114 B`` (what Pillow's ``convert("L")`` computes); other counts are
  refused;
- size: bilinear resampling with antialiasing (``torch.nn.functional.interpolate``), rounded
  back to ``uint8``; the aspect ratio is not kept (a loader's ``crop = "center"`` keeps it
  when it decodes).

Example:
    >>> import torch
    >>> to_shape(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), (3, 32, 32)).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from toolkit.errors import DataError

__all__ = ["to_shape"]

#: ITU-R BT.601 luma weights of red, green and blue.
LUMA = (0.299, 0.587, 0.114)


def to_shape(x: torch.Tensor, shape: Sequence[int], *, what: str = "the images") -> torch.Tensor:
    """``x`` (``uint8`` ``(N, C, H, W)``) with ``shape[0]`` channels and ``shape[1:]`` as size.

    Args:
        x: the images.
        shape: the target ``(C, H, W)`` of one image.
        what: how an error names the images ("OOD data set svhn").

    Raises:
        DataError: ``x`` is not a batch of ``uint8`` images, or its channels cannot be converted.
    """
    target = tuple(int(s) for s in shape)
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise DataError(f"{what}: expected uint8 images (N, C, H, W), found {x.dtype} {tuple(x.shape)}")
    if len(target) != 3:
        raise DataError(f"{what}: cannot convert images to the shape {target}, which is not (C, H, W)")
    channels, size = target[0], target[1:]
    if tuple(x.shape[1:]) == target:
        return x
    x = _channels(x, channels, what)
    if tuple(x.shape[2:]) == size:
        return x
    resized = torch.nn.functional.interpolate(
        x.float(), size=size, mode="bilinear", align_corners=False, antialias=True
    )
    return resized.round().clamp(0, 255).to(torch.uint8)


def _channels(x: torch.Tensor, channels: int, what: str) -> torch.Tensor:
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA).view(1, 3, 1, 1)
        return (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise DataError(
        f"{what}: images with {have} channels cannot be converted to the in-distribution data's "
        f"{channels}; give a data set with 1 or 3 channels"
    )
