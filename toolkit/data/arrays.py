"""A data set from arrays already in memory: ``(x_train, y_train, x_test, y_test)``, for
:func:`toolkit.run` (``data=(...)``).

The inputs' shape says the modality: ``(N, C, H, W)`` is images (``uint8`` as the toolkit
stores them, or floats in ``[0, 1]``), ``(N, D)`` tabular rows (floats, used as they are:
standardize them first, or use the ``table`` dataset). Labels are integers ``0..K-1``
(``class_names`` names them; default ``"0"``, ``"1"``, ...) or any values, whose sorted
distinct values are then the classes. NumPy arrays and torch tensors both work.

Example:
    >>> import numpy as np
    >>> b = bundle(np.random.rand(20, 3).astype("float32"), np.arange(20) % 2,
    ...            np.random.rand(6, 3).astype("float32"), np.arange(6) % 2)
    >>> b.info.modality, b.info.class_names, b.info.input_shape
    ('tabular', ['0', '1'], (3,))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from toolkit.data.base import DataBundle, DataInfo, Split, channel_stats
from toolkit.data.domain import Domain
from toolkit.errors import DataError

__all__ = ["bundle"]


def bundle(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, class_names: Sequence[str] | None = None,
    name: str = "arrays",
) -> DataBundle:  # fmt: skip
    """The four arrays as a :class:`~toolkit.data.base.DataBundle`.

    Raises:
        DataError: shapes that disagree, non-finite inputs, images outside ``[0, 1]``,
            fewer than two classes, or labels the class names do not cover.
    """
    xs = [_tensor(x, f"x_{part}") for x, part in ((x_train, "train"), (x_test, "test"))]
    if xs[0].shape[1:] != xs[1].shape[1:] or xs[0].ndim not in (2, 4):
        raise DataError(
            f"data: x_train {tuple(xs[0].shape)} and x_test {tuple(xs[1].shape)} must both be (N, C, H, W) "
            "images or (N, D) rows"
        )
    raw = [np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y) for y in (y_train, y_test)]
    for x, y, part in ((xs[0], raw[0], "train"), (xs[1], raw[1], "test")):
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"data: y_{part} must hold one label per row of x_{part} ({len(x)}), not {y.shape}"
            )
    names, ys = _labels(raw, class_names)
    image = xs[0].ndim == 4
    low, high = min(float(x.min()) for x in xs), max(float(x.max()) for x in xs)
    if image and xs[0].dtype != torch.uint8 and (low < 0 or high > 1):
        raise DataError(
            "data: float images must lie in [0, 1] (the toolkit's pixel range); give uint8 or scale them"
        )
    mean, std = _stats(xs[0]) if image else (None, None)
    both = torch.cat(xs)
    domain = None if image else Domain(tuple(both.min(0).values.tolist()), tuple(both.max(0).values.tolist()))
    info = DataInfo(
        name=name, modality="image" if image else "tabular", input_shape=tuple(xs[0].shape[1:]),
        class_names=names, mean=mean, std=std, domain=domain,
    )  # fmt: skip
    return DataBundle(Split(xs[0], ys[0]), Split(xs[1], ys[1]), info)


def _tensor(x: Any, what: str) -> torch.Tensor:
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dtype != torch.uint8:
        t = t.float()
        if not torch.isfinite(t).all():
            raise DataError(f"data: {what} holds NaN or infinite values")
    return t.contiguous()


def _labels(raw: list[np.ndarray], class_names: Sequence[str] | None) -> tuple[list[str], list[torch.Tensor]]:
    if np.issubdtype(raw[0].dtype, np.integer) and np.issubdtype(raw[1].dtype, np.integer):
        k = int(max(raw[0].max(initial=0), raw[1].max(initial=0))) + 1
        names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
        if min(raw[0].min(initial=0), raw[1].min(initial=0)) < 0 or k > len(names):
            raise DataError(f"data: integer labels must lie in 0..{len(names) - 1} (one per class name)")
        ys = [torch.as_tensor(y, dtype=torch.long) for y in raw]
    else:
        names = list(class_names) if class_names is not None else sorted({str(v) for y in raw for v in y})
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted({str(v) for y in raw for v in y} - set(names))
        if unknown:
            raise DataError(f"data: label(s) {unknown[:5]} are not among the class names {names}")
        ys = [torch.tensor([index[str(v)] for v in y], dtype=torch.long) for y in raw]
    if len(names) < 2:
        raise DataError(f"data: {len(names)} class(es); a classifier needs two")
    return names, ys


def _stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if x.dtype == torch.uint8:
        return channel_stats(x)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3), unbiased=False).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())
