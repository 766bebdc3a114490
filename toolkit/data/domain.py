"""The valid input domain of a data set: where an attack may move its inputs.

Images live in ``[0, 1]`` (the model-input scale of ``uint8`` pixels); standardized tabular
features between the per-feature minimum and maximum that the data set declares; some
inputs are unbounded; token ids are discrete and have no continuous domain. Every evasion
attack, attack adapter and augmentation reads :attr:`DataInfo.domain
<toolkit.data.base.DataInfo.domain>` instead of assuming ``[0, 1]``.

Example:
    >>> import torch
    >>> d = Domain(low=(-1.0, 0.0), high=(1.0, 2.0))
    >>> d.clamp(torch.tensor([[-5.0, 5.0]])).tolist()
    [[-1.0, 2.0]]
    >>> Domain.unit().clamp(torch.tensor([1.5])).tolist()
    [1.0]
    >>> Domain.unbounded().clamp(torch.tensor([9.0])).tolist()
    [9.0]
    >>> Domain(low=0.0, high=(1.0, 2.0)).clamp(torch.tensor([[-1.0, 5.0]])).tolist()
    [[0.0, 2.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Domain:
    """Bounds of model inputs: one range for every value, or one per feature.

    Args:
        low: the lower bound (a float, a tuple with one bound per feature, or ``None``).
        high: the upper bound, likewise.
        kind: ``"continuous"`` (attacks may move inputs) or ``"discrete"`` (token ids:
            gradient attacks do not apply). A discrete domain may carry the id range
            (``Domain(0, vocab_size - 1, "discrete")``).
    """

    low: float | tuple[float, ...] | None = 0.0
    high: float | tuple[float, ...] | None = 1.0
    kind: Literal["continuous", "discrete"] = "continuous"

    @classmethod
    def unit(cls) -> Domain:
        """``[0, 1]``: images in the model-input scale."""
        return cls(0.0, 1.0)

    @classmethod
    def unbounded(cls) -> Domain:
        """No bounds."""
        return cls(None, None)

    @classmethod
    def discrete(cls) -> Domain:
        """Token ids and other categorical inputs."""
        return cls(None, None, "discrete")

    @property
    def is_unit(self) -> bool:
        return self.kind == "continuous" and self.low == 0.0 and self.high == 1.0

    @property
    def bounded(self) -> bool:
        return self.low is not None or self.high is not None

    def _bound(self, value: float | tuple[float, ...] | None, like: torch.Tensor) -> Any:
        import torch

        if value is None or isinstance(value, float | int):
            return value
        t = torch.tensor(value, dtype=like.dtype, device=like.device)
        if t.numel() != like[0].numel():
            raise ValueError(
                f"the input domain has {t.numel()} per-feature bounds, "
                f"the inputs {like[0].numel()} values each"
            )
        return t.view(like.shape[1:])

    def clamp(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` moved into the domain (unchanged where it is unbounded)."""
        if self.kind == "discrete":
            raise ValueError("a discrete input domain (token ids) cannot be clamped")
        if not self.bounded:
            return x
        low, high = self._bound(self.low, x), self._bound(self.high, x)
        if isinstance(low, float | int | None) and isinstance(high, float | int | None):
            return x.clamp(low, high)
        import torch  # per-feature bounds on one side at least: both sides as tensors

        inf = float("inf")
        low = (
            torch.full_like(x[0], -inf if low is None else low)
            if isinstance(low, float | int | None)
            else low
        )
        high = (
            torch.full_like(x[0], inf if high is None else high)
            if isinstance(high, float | int | None)
            else high
        )
        return torch.clamp(x, min=low, max=high)

    def contains(self, x: torch.Tensor, *, atol: float = 1e-6) -> bool:
        """Whether every value of ``x`` lies in the domain (within ``atol``)."""
        return bool((self.clamp(x) - x).abs().max() <= atol) if x.numel() else True

    def clip_values(self, input_shape: tuple[int, ...]) -> tuple[Any, Any] | None:
        """The bounds as ART's ``clip_values`` (NumPy arrays of the input's shape), or ``None``."""
        import numpy as np

        if not self.bounded:
            return None

        def side(value: float | tuple[float, ...] | None, fill: float) -> Any:
            if value is None:
                return np.full(input_shape, fill, dtype=np.float32)
            if isinstance(value, float | int):
                return float(value)
            return np.asarray(value, dtype=np.float32).reshape(input_shape)

        low, high = side(self.low, -np.inf), side(self.high, np.inf)
        if isinstance(low, float) and isinstance(high, float):
            return (low, high)
        return (
            np.broadcast_to(low, input_shape).astype(np.float32),
            np.broadcast_to(high, input_shape).astype(np.float32),
        )

    def describe(self) -> str:
        """A short text for messages and reports."""
        if self.kind == "discrete":
            ids = (
                f" {self.low:g} to {self.high:g}"
                if isinstance(self.low, int | float) and isinstance(self.high, int | float)
                else ""
            )
            return f"discrete (token ids{ids})"
        if not self.bounded:
            return "unbounded"
        if isinstance(self.low, tuple) or isinstance(self.high, tuple):
            return "per-feature bounds"
        return f"[{self.low:g}, {self.high:g}]"

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "kind": self.kind}
