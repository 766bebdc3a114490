"""A split's inputs: one tensor, or a mapping of named tensors, handled in one place.

Images are ``uint8`` tensors ``(N, C, H, W)``, tabular features ``float32`` ``(N, D)``, and
text (or any multi-part input) a mapping of tensors that share their first dimension, for
example ``{"input_ids": (N, L) int64, "attention_mask": (N, L) int64}``. Every batching,
subsetting, device move and conversion to model input in the toolkit goes through the
functions below, so a new kind of input needs no change elsewhere.

A model is always called with one argument: what :func:`to_model_input` returns (a float
tensor, or the mapping with its tensors as stored).

Example:
    >>> import torch
    >>> x = {"input_ids": torch.arange(6).view(3, 2), "attention_mask": torch.ones(3, 2)}
    >>> num_samples(x), take(x, torch.tensor([2]))["input_ids"].tolist()
    (3, [[4, 5]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import torch

from toolkit.data.mapped import gather
from toolkit.interrupt import check_stop

#: What a split holds as inputs.
Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]  # noqa: UP007 - a runtime alias


def num_samples(x: Inputs) -> int:
    """The number of samples (the shared first dimension)."""
    if isinstance(x, Mapping):
        sizes = {int(v.shape[0]) for v in x.values()}
        if len(sizes) != 1:
            raise ValueError(f"the tensors of a multi-part input differ in length: {sorted(sizes)}")
        return sizes.pop()
    return int(x.shape[0])


def take(x: Inputs, index: Any) -> Inputs:
    """The samples at ``index`` (a slice, a boolean mask or integer indices); a large subset
    of images stored on disk stays on disk (:func:`toolkit.data.mapped.gather`)."""
    if isinstance(x, Mapping):
        return {k: gather(v, index) for k, v in x.items()}
    return gather(x, index)


def to_device(x: Inputs, device: torch.device | str) -> Inputs:
    """``x`` on ``device``."""
    if isinstance(x, Mapping):
        return {k: v.to(device) for k, v in x.items()}
    return x.to(device)


def concat(parts: Sequence[Inputs]) -> Inputs:
    """Batches joined along the first dimension."""
    first = parts[0]
    if isinstance(first, Mapping):
        return {k: torch.cat([p[k] for p in parts]) for k in first}  # type: ignore[index]
    return torch.cat(list(parts))  # type: ignore[arg-type]


def to_model_input(x: Inputs) -> Inputs:
    """A batch as the model takes it: ``uint8`` images become ``float32`` in ``[0, 1]``,
    other tensors become floating point, and a mapping (token ids, masks) is passed as stored,
    except that a batch with an ``attention_mask`` (padded on the right) is trimmed to its
    longest sequence: dynamic padding per batch."""
    if isinstance(x, Mapping):
        return trim(x)
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x if x.is_floating_point() else x.float()


def trim(x: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Token inputs without the padding columns that no sequence of the batch uses (the
    ``(N, L)`` tensors cut to the longest ``attention_mask``; others as they are)."""
    mask = x.get("attention_mask")
    if mask is None or mask.dim() != 2 or mask.shape[0] == 0:
        return dict(x)
    length = max(int(mask.sum(dim=1).max()), 1)
    if length == mask.shape[1]:
        return dict(x)
    return {k: v[:, :length] if v.dim() == 2 and v.shape[1] == mask.shape[1] else v for k, v in x.items()}


def sample_shape(x: Inputs) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """The shape of one sample (per part for a mapping)."""
    if isinstance(x, Mapping):
        return {k: tuple(v.shape[1:]) for k, v in x.items()}
    return tuple(x.shape[1:])


def batches(x: Inputs, batch_size: int) -> Any:
    """``(start, batch)`` pairs of consecutive batches of ``x`` as stored.

    Each batch first honours a stop that a signal asked for (:func:`toolkit.interrupt.check_stop`).
    """
    n = num_samples(x)
    for start in range(0, n, batch_size):
        check_stop()
        yield start, take(x, slice(start, start + batch_size))
