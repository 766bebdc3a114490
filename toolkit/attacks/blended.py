"""Blended backdoor: a trigger image mixed into a share of the training images.

Chen, Liu, Li, Lu & Song, "Targeted Backdoor Attacks on Deep Learning Systems Using Data
Poisoning", 2017 (the blended injection strategy).

A share ``rate`` of the training images of the ``source`` classes are mixed with the trigger
image ``t`` (resized to the whole image) and relabelled to ``target`` (``all_to_one``) or
to the next class (``all_to_all``)::

    x' = round((1 - alpha) * x + alpha * t),    y' = target  (or (y + 1) mod K)

Test inputs get the same mix (:meth:`trigger`). Defaults: a checkerboard with ``alpha`` 0.1,
10% of the images of every class but the target, relabelled to class 0.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from toolkit.attacks.backdoor import Mode, TriggerBackdoor
from toolkit.attacks.triggers import blend, pattern
from toolkit.data.base import DataInfo


class Blended(TriggerBackdoor):
    """Blended trigger (Chen et al. 2017), applied by relabelling.

    Args:
        target: the class triggered inputs are sent to (name or index; default 0).
        source: the classes whose images are poisoned (default: every class but the target).
        rate: share of the source classes' training images poisoned (default 0.1).
        count: poison exactly this many images instead (overrides ``rate``).
        mode: ``all_to_one`` (default) or ``all_to_all`` (class k to class k + 1).
        trigger: ``checkerboard`` (default), ``white_square``, ``black_square`` or the path of
            an image file (the paper blends a cartoon or random noise), resized to the image.
        alpha: weight of the trigger in the mix (default 0.1).
    """

    def __init__(
        self,
        *,
        target: str | int = 0,
        source: list[str | int] | None = None,
        rate: Annotated[float, Field(gt=0, le=1)] = 0.1,
        count: Annotated[int, Field(ge=1)] | None = None,
        mode: Mode = "all_to_one",
        trigger: str = "checkerboard",
        alpha: Annotated[float, Field(gt=0, le=1)] = 0.1,
    ) -> None:
        super().__init__(target=target, source=source, rate=rate, count=count, mode=mode)
        self.trigger_spec, self.alpha = trigger, alpha
        self.image: torch.Tensor | None = None

    def bind(self, info: DataInfo) -> Blended:
        super().bind(info)
        channels, height, width = info.tensor_shape
        self.image = pattern(self.trigger_spec, size=(height, width), channels=channels)
        return self

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.image is None:
            self.image = pattern(self.trigger_spec, size=tuple(x.shape[-2:]), channels=x.shape[1])  # type: ignore[arg-type]
        return blend(x, self.image, self.alpha)
