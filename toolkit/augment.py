"""Batch augmentation on whole tensors: no per-sample Python, no PIL.

``random_crop`` pads a batch with zeros by ``padding`` pixels and crops each image back to
its size at a random offset (Krizhevsky et al. 2012; the CIFAR recipe of He et al. 2016);
``hflip`` mirrors each image left-right with probability 1/2. Both draw from the given
generator, so a seeded run is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, *, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Crop each image of ``x`` ``(N, C, H, W)`` at a random offset after zero padding.

    All ``(2p + 1)^2`` windows of the padded batch are a strided view (``unfold``, no copy);
    one indexing operation copies out each image's window.
    """
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)  # (N, C, 2p+1, 2p+1, H, W), a view
    return windows[torch.arange(n, device=x.device), :, oy, ox]


def hflip(x: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image of ``x`` ``(N, C, H, W)`` left-right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    out = x.clone()
    out[flip] = x[flip].flip(3)
    return out


def batch_augmentation(
    names: Sequence[str], *, padding: int = 4
) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    """The named augmentations chained into one batch transform (``None`` if there are none)."""
    if not names:
        return None

    def apply(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for name in names:
            if name == "random_crop":
                x = random_crop(x, padding=padding, generator=generator)
            elif name == "hflip":
                x = hflip(x, generator=generator)
            else:  # pragma: no cover - the recipe schema allows only the two above
                raise ValueError(f"unknown augmentation {name!r}")
        return x

    return apply
