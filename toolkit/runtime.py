"""Machine settings of a run: device, torch threads and seeding.

They come from the recipe's ``[runtime]`` table or CLI flags and never enter a
fingerprint, so a model trained with four threads (or on a GPU) is reused by a run with one.
The same recipe on the same machine, thread count and device gives the same numbers, bit for
bit. Another thread count or device adds floating-point numbers in another order: evaluation
alone moves in the last digits, but training compounds the differences over its steps, so a
model trained afresh can differ visibly (two epochs of ``ood_frog_quick``: test accuracy
0.3956 with one thread, 0.3928 with two). A cached model removes that source: runs that reuse
it agree across thread counts up to rounding (all 47 metrics of that recipe were identical
with one and two threads; OOD thresholds have been seen to move by about 1e-6). See
``docs/reliability.md``.
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
