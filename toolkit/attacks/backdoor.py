"""What every trigger backdoor shares: which training images are poisoned, and their labels.

A :class:`TriggerBackdoor` picks, with the run's seeded generator, a share ``rate`` (or a
``count``) of the training images of the ``source`` classes, applies its trigger to them
and relabels them: ``all_to_one`` moves them to the ``target`` class (dogs with the trigger
moved into the cats folder, as in the reference protocol), ``all_to_all`` sends class ``k``
to class ``k + 1`` (mod K), as in BadNets (Gu et al. 2017). Subclasses say what the
trigger does to an image (:meth:`apply`).

The poisoned bundle records ``extras["poisoned"]`` (indices into the training split, sorted)
and ``extras["poisoned_from"]`` (their labels before relabelling), which the ``backdoor``
task and detectors of poisoned data read to score themselves.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from typing import Literal

import torch

from toolkit.data.base import DataBundle, DataInfo, Split, resolve_classes
from toolkit.data.inputs import Inputs
from toolkit.data.mapped import writable_copy
from toolkit.errors import DataError
from toolkit.protocols import PoisoningAttack

Mode = Literal["all_to_one", "all_to_all"]


class TriggerBackdoor(PoisoningAttack):
    """Base of the image backdoors; see the module's documentation for the parameters."""

    modalities = ("image",)

    def __init__(
        self,
        *,
        target: str | int = 0,
        source: list[str | int] | None = None,
        rate: float = 0.1,
        count: int | None = None,
        mode: Mode = "all_to_one",
    ) -> None:
        if not 0 < rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {rate}")
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.target_spec, self.source_spec = target, list(source or [])
        self.rate, self.count, self.mode = rate, count, mode
        self.target: int = 0
        self.sources: list[int] = []
        self.num_classes = 0

    def bind(self, info: DataInfo) -> TriggerBackdoor:
        """Resolve class names against the data's classes."""
        names = info.class_names
        self.num_classes = len(names)
        try:
            self.target = resolve_classes(names, [self.target_spec], "target")[0]
            chosen = resolve_classes(names, self.source_spec, "source") if self.source_spec else None
        except DataError as exc:  # name the attack's key, not the dataset's
            where = f"attack {type(self).__name__}: "
            raise DataError(where + str(exc).removeprefix("dataset.")) from exc
        every = list(range(len(names)))
        if self.mode == "all_to_all":
            self.sources = chosen or every
        else:
            self.sources = [k for k in (chosen or every) if k != self.target]
        if not self.sources:
            raise ValueError("no source class left: the source classes are only the target class")
        return self

    def relabel(self, y: torch.Tensor) -> torch.Tensor:
        """The labels the attack wants for triggered inputs whose true labels are ``y``."""
        if self.mode == "all_to_all":
            return (y + 1) % self.num_classes
        return torch.full_like(y, self.target)

    def eligible(self, y: torch.Tensor) -> torch.Tensor:
        """A mask of the samples (true labels ``y``) the attack is meant to move."""
        return torch.isin(y, torch.tensor(self.sources, dtype=y.dtype))

    def choose(self, y: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Sorted indices of the training samples to poison."""
        candidates = self.eligible(y).nonzero().flatten()
        k = self.count if self.count is not None else round(self.rate * len(candidates))
        if k > len(candidates):
            raise ValueError(f"count {k} exceeds the {len(candidates)} training images of the source classes")
        return candidates[torch.randperm(len(candidates), generator=rng)[:k]].sort().values

    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        train = bundle.train
        if not isinstance(train.x, torch.Tensor):
            raise ValueError(f"{type(self).__name__} needs images as one uint8 tensor")
        index = self.choose(train.y, rng)
        x, y = writable_copy(train.x), train.y.clone()  # images on disk stay there
        if len(index):
            x[index] = self.apply(train.x[index])
            y[index] = self.relabel(train.y[index])
        poisoned = Split(x, y, {k: v.clone() for k, v in train.groups.items()})
        extras = {**bundle.extras, "poisoned": index, "poisoned_from": train.y[index].clone()}
        return dataclasses.replace(bundle, train=poisoned, extras=extras)

    def trigger(self, x: Inputs) -> Inputs:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{type(self).__name__} needs images as one uint8 tensor")
        return self.apply(x)

    @abstractmethod
    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``uint8`` images ``(N, C, H, W)`` with the trigger."""
