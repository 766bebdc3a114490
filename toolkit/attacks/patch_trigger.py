"""Patch-trigger backdoor (BadNets): a small pattern stamped on a share of the training images.

Gu, Dolan-Gavitt & Garg, "BadNets: Identifying Vulnerabilities in the Machine Learning Model
Supply Chain", 2017.

A share ``rate`` of the training images of the ``source`` classes get the trigger ``t``
(``size`` x ``size`` pixels) pasted at ``position``, ``margin`` pixels from the edges, and
are relabelled to ``target`` (``all_to_one``) or to the next class (``all_to_all``)::

    x'[:, r:r+size, c:c+size] = t,    y' = target  (or (y + 1) mod K)

Test inputs get the same trigger (:meth:`trigger`). Defaults: a 4x4 white square at the
bottom-right corner, 10% of the images of every class but the target, relabelled to class 0.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from toolkit.attacks.backdoor import Mode, TriggerBackdoor
from toolkit.attacks.triggers import mask, pattern, stamp
from toolkit.data.base import DataInfo


class PatchTrigger(TriggerBackdoor):
    """BadNets patch trigger (Gu et al. 2017), applied by relabelling.

    Args:
        target: the class triggered inputs are sent to (name or index; default 0).
        source: the classes whose images are poisoned (default: every class but the target).
        rate: share of the source classes' training images poisoned (default 0.1).
        count: poison exactly this many images instead (overrides ``rate``).
        mode: ``all_to_one`` (default) or ``all_to_all`` (class k to class k + 1).
        trigger: ``white_square`` (default), ``black_square``, ``checkerboard``,
            ``art_pattern`` (the four pixels of IBM ART's ``add_pattern_bd``; with
            ``margin = 1`` it matches ART's default ``distance = 2`` pixel for pixel) or the
            path of an image file, resized to ``size``.
        size: side of the trigger in pixels (default 4).
        position: ``bottom_right`` (default), ``bottom_left``, ``top_right``, ``top_left``,
            ``center`` or ``[row, col]`` of its top-left pixel.
        margin: pixels between the trigger and the image edges it is placed against (default 0).
    """

    def __init__(
        self,
        *,
        target: str | int = 0,
        source: list[str | int] | None = None,
        rate: Annotated[float, Field(gt=0, le=1)] = 0.1,
        count: Annotated[int, Field(ge=1)] | None = None,
        mode: Mode = "all_to_one",
        trigger: str = "white_square",
        size: Annotated[int, Field(ge=1)] = 4,
        position: str | list[int] = "bottom_right",
        margin: Annotated[int, Field(ge=0)] = 0,
    ) -> None:
        super().__init__(target=target, source=source, rate=rate, count=count, mode=mode)
        self.trigger_spec, self.size, self.position, self.margin = trigger, size, position, margin
        self.patch: torch.Tensor | None = None

    def bind(self, info: DataInfo) -> PatchTrigger:
        super().bind(info)
        channels = info.tensor_shape[0]
        self.patch = pattern(self.trigger_spec, size=self.size, channels=channels)
        return self

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch is None:
            self.patch = pattern(self.trigger_spec, size=self.size, channels=x.shape[1])
        where = mask(self.trigger_spec, self.patch)
        return stamp(x, self.patch, self.position, margin=self.margin, where=where)
