"""Tensors that live in a file on disk, for data sets larger than memory.

``image_folder`` with ``storage = "disk"`` decodes a folder once into a safetensors file of
the artifact cache and reads it back memory-mapped (:func:`open_mapped`): the operating
system pages images in as batches ask for them and drops them under memory pressure, so
training, evaluation, feature extraction, the data digest and the channel statistics all
run on folders that do not fit in memory. The mapping is copy-on-write: writing to a mapped
tensor changes this process's copy of the touched pages only, never the file.

Two operations would otherwise copy a whole split into memory, and are disk-aware here:

- :func:`writable_copy` (a poisoning attack's copy of the training images) maps the file a
  second time, copy-on-write, so only the poisoned images take memory;
- :func:`gather` (a subset by index, as when a poison filter keeps the samples it did not
  flag) writes a large subset of a mapped tensor to an unlinked temporary file and maps
  that, a chunk at a time.

Example:
    >>> import tempfile, numpy as np, torch
    >>> path = tempfile.mktemp()
    >>> np.arange(24, dtype=np.uint8).tofile(path)
    >>> x = open_mapped(path, offset=0, shape=(6, 4))
    >>> is_mapped(x), gather(x, torch.tensor([5, 0]))[:, 0].tolist()
    (True, [20, 0])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Storage address -> (file, byte offset of the tensor's data), for every mapped tensor.
_FILES: dict[int, tuple[Path, int]] = {}
#: A subset at least this large (bytes) of a mapped tensor goes to a temporary file.
GATHER_TO_DISK_BYTES = 256 * 2**20
_CHUNK_BYTES = 64 * 2**20


def open_mapped(
    path: str | Path, *, offset: int, shape: tuple[int, ...], dtype: Any = np.uint8
) -> torch.Tensor:
    """The tensor of ``shape`` stored at byte ``offset`` of ``path``, memory-mapped copy-on-write."""
    array = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape)
    tensor = torch.from_numpy(array)
    address = tensor.untyped_storage().data_ptr()
    _FILES[address] = (Path(path), offset)
    weakref.finalize(array, _FILES.pop, address, None)  # the storage keeps the array alive
    return tensor


def is_mapped(x: Any) -> bool:
    """Whether ``x`` is (a view of) a tensor opened with :func:`open_mapped`."""
    return isinstance(x, torch.Tensor) and x.untyped_storage().data_ptr() in _FILES


def writable_copy(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` to write into: ``x.clone()``, or for a mapped tensor a fresh
    copy-on-write mapping of its file, with the same view (memory only for what is written)."""
    if not is_mapped(x):
        return x.clone()
    path, offset = _FILES[x.untyped_storage().data_ptr()]
    itemsize = x.element_size()
    whole = open_mapped(
        path, offset=offset, shape=(x.untyped_storage().nbytes() // itemsize,), dtype=numpy_dtype(x.dtype)
    )
    return whole.as_strided(tuple(x.shape), tuple(x.stride()), x.storage_offset())


def gather(x: torch.Tensor, index: Any) -> torch.Tensor:
    """``x[index]``; for a mapped tensor and a large result, written to an unlinked temporary
    file (in ``$TMPDIR``) a chunk at a time and mapped, instead of held in memory."""
    if not is_mapped(x) or isinstance(index, slice):
        return x[index]
    rows = torch.as_tensor(index)
    if rows.dtype == torch.bool:
        rows = rows.nonzero().flatten()
    row_bytes = x[0].numel() * x.element_size() if len(x) else 0
    if len(rows) * row_bytes < GATHER_TO_DISK_BYTES:
        return x[rows]
    fd, name = tempfile.mkstemp(prefix="toolkit-gather-", suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as fh:
            step = max(1, _CHUNK_BYTES // max(row_bytes, 1))
            for start in range(0, len(rows), step):
                fh.write(np.ascontiguousarray(x[rows[start : start + step]].numpy()).tobytes())
        out = open_mapped(name, offset=0, shape=(len(rows), *x.shape[1:]), dtype=numpy_dtype(x.dtype))
    finally:
        with contextlib.suppress(OSError):  # where an open file cannot be removed, it stays
            os.unlink(name)  # the mapping keeps the data until it is dropped
    return out


def numpy_dtype(dtype: torch.dtype) -> Any:
    """NumPy's dtype for a torch dtype."""
    return torch.empty(0, dtype=dtype).numpy().dtype
