"""The training loop's fast paths, each a ``[train]`` switch: mixed precision, channels-last
memory and ``torch.compile``.

- ``amp``: the forward pass and the loss run under ``torch.autocast`` in bfloat16 or
  float16 (Micikevicius et al., "Mixed Precision Training", ICLR 2018); the weights, the
  optimizer and the update stay float32. float16 needs a gradient scaler (the loss is
  multiplied before backward so small gradients do not underflow, the gradients divided
  before clipping and the update, and a step with non-finite gradients skipped); bfloat16
  has float32's range and needs none. ``auto`` picks bfloat16 on a GPU that supports it,
  float16 on an older CUDA GPU, bfloat16 on a CPU that computes it natively (AVX512-BF16 or
  AMX: 1.7x the plain loop's steps for a small CNN, ``benchmarks/training.py``), and nothing
  on other CPUs (float16 on a CPU was about ten times slower).
- ``channels_last``: the model's 4-D weights and the image batches in NHWC order, the
  layout tensor cores and oneDNN convolve fastest.
- ``compile``: the training forward pass through ``torch.compile`` (the first steps pay
  for the compilation; where it cannot compile, training goes on without it, with a
  warning).

Each changes the arithmetic a little, so each enters the training fingerprint; the tests
check each gives the same model within tolerance.

Example:
    >>> precision_for("auto", "cpu").dtype == (torch.bfloat16 if native_bf16() else None)
    True
    >>> precision_for("bf16", "cpu").dtype
    torch.bfloat16
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["Precision", "channels_last", "compiled", "native_bf16", "precision_for"]


@dataclass
class Precision:
    """How a training step computes: ``dtype`` of the autocast region (``None``: float32
    throughout) on ``device_type``, and the gradient scaler float16 needs."""

    dtype: torch.dtype | None = None
    device_type: str = "cpu"
    scaler: torch.amp.GradScaler | None = None

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """The forward pass and the loss in ``dtype`` (a no-op for float32)."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            yield

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of ``loss``, scaled under float16."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer, params: Any, clip_norm: float | None) -> None:
        """Unscale (float16), clip the gradients' global L2 norm to ``clip_norm``, update."""
        if self.scaler is not None:
            if clip_norm is not None:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()


def precision_for(amp: str, device: torch.device | str) -> Precision:
    """The :class:`Precision` of ``[train] amp`` (``off``, ``auto``, ``bf16``, ``fp16``) on
    ``device``."""
    device = torch.device(device)
    kind = device.type
    if amp == "auto":
        if kind == "cuda":
            amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif kind == "cpu" and native_bf16():
            amp = "bf16"
        else:
            return Precision(device_type=kind)
    if amp == "off":
        return Precision(device_type=kind)
    if amp == "bf16":
        return Precision(torch.bfloat16, kind)
    return Precision(torch.float16, kind, torch.amp.GradScaler(kind))


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), where autocast to it
    was measured faster; float16 on a CPU was measured about ten times slower."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def channels_last(module: nn.Module) -> nn.Module:
    """``module`` with its 4-D parameters and buffers in channels-last order (in place)."""
    return module.to(memory_format=torch.channels_last)


def as_channels_last(x: Any) -> Any:
    """A batch of images ``(N, C, H, W)`` in channels-last order; anything else as it is."""
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def compiled(module: nn.Module) -> nn.Module:
    """``torch.compile(module)``: the same parameters, a compiled forward pass; where
    compiling fails on the first call (no C++ compiler for the CPU backend, an operation the
    compiler does not take), training goes on with ``module`` itself, with a warning."""
    return _Compiled(module)


class _Compiled(nn.Module):
    """A compiled forward pass that falls back to the eager one if the first call fails."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        object.__setattr__(self, "fast", torch.compile(module))  # not a second registration
        self.called = False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        fast = self.__dict__["fast"]
        if fast is None:
            return self.module(*args, **kwargs)
        try:
            out = fast(*args, **kwargs)
        except Exception as exc:
            if self.called:  # it compiled once: this is the model's own error
                raise
            import warnings

            warnings.warn(
                f"train.compile: torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); "
                "training goes on without it",
                RuntimeWarning,
                stacklevel=2,
            )
            self.__dict__["fast"] = None
            return self.module(*args, **kwargs)
        self.called = True
        return out
