"""Machine settings of a run: device, torch threads and seeding.

They come from the recipe's ``[runtime]`` table or CLI flags and never enter a
fingerprint: the same recipe gives the same numbers on one thread or four.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from toolkit.errors import UsageError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` is CUDA when present, else the CPU; ``cuda`` without CUDA is a usage error."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"runtime.device is '{spec}' but CUDA is not available here; use device = 'auto' or 'cpu'"
        )
    if spec == "mps" and not torch.backends.mps.is_available():
        raise UsageError("runtime.device is 'mps' but MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(spec)


def set_threads(threads: int | None) -> None:
    """Set torch's CPU thread count (``None`` keeps torch's default of one per core).

    For small models, one thread is often many times faster than two on a busy machine;
    large convolutional models gain from more threads on a quiet one.
    """
    if threads is not None:
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


#: A stop a signal asked for, kept in case the exception its handler raised was swallowed
#: (a signal handler can run inside a finalizer, where exceptions are ignored).
_stop: BaseException | None = None


def request_stop(exc: BaseException) -> None:
    """Remember that the run must stop with ``exc`` (called by a signal handler)."""
    global _stop
    _stop = exc


def check_stop() -> None:
    """Raise the stop a signal asked for, if any (long loops call this once per step)."""
    global _stop
    if _stop is not None:
        exc, _stop = _stop, None
        raise exc
