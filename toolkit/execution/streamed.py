"""One large tensor in the artifact cache, written a chunk at a time and read memory-mapped.

:class:`~toolkit.execution.cache.ArtifactCache` entries are safetensors files that are
loaded whole. A decoded image folder can be larger than memory, so :func:`save_streamed`
writes its safetensors file chunk by chunk (the header first, with the checksum patched in
at the end) and :func:`open_streamed` maps it (:mod:`toolkit.data.mapped`) after checking
its header and streaming its bytes through the checksum. The file is an ordinary entry:
``toolkit cache ls``, ``verify`` and ``clear`` treat it like any other, and its checksum is
the one :func:`~toolkit.execution.cache.checksum` computes.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from toolkit.execution.entryfile import (
    META_KEY,
    atomic_file,
    checksum,
    metadata_problem,
    read_header,
    read_metadata,
    tensor_line,
)

#: safetensors' names of the dtypes a streamed tensor may have.
_DTYPES = {torch.uint8: "U8", torch.float32: "F32", torch.int64: "I64"}
_PLACEHOLDER = "?" * 64  # as long as a SHA-256 hex digest


class EntryStore(Protocol):
    """What a streamed entry needs of its store (an :class:`~toolkit.execution.cache.ArtifactCache`)."""

    #: Why the last load found its entry unusable (``None`` if it did not).
    last_problem: str | None

    def path(self, kind: str, key: str) -> Path:
        """Where the entry ``kind``/``key`` lives."""
        ...


def save_streamed(
    cache: EntryStore,
    kind: str,
    key: str,
    *,
    name: str,
    dtype: torch.dtype,
    shape: tuple[int, ...],
    chunks: Iterable[np.ndarray],
    meta: dict[str, Any],
) -> Path:
    """Store the tensor ``name`` of ``shape`` whose rows ``chunks`` yield in order, atomically
    (temporary file, then rename); a chunk count that does not fill ``shape`` is a ValueError."""
    target = cache.path(kind, key)
    size = int(np.prod(shape)) * torch.empty(0, dtype=dtype).element_size()
    record = {**meta, "created": time.time(), "kind": kind, "key": key, "checksum": _PLACEHOLDER}
    header = {
        "__metadata__": {META_KEY: json.dumps(record, default=str)},
        name: {"dtype": _DTYPES[dtype], "shape": list(shape), "data_offsets": [0, size]},
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads its header with spaces to 8 bytes
    digest = hashlib.sha256(tensor_line(name, dtype, tuple(shape)))
    with atomic_file(target, key) as tmp, open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        written = 0
        for chunk in chunks:
            data = np.ascontiguousarray(chunk).tobytes()
            digest.update(data)
            fh.write(data)
            written += len(data)
        if written != size:
            raise ValueError(f"the chunks hold {written} bytes, not the {size} of shape {shape}")
        fh.seek(8 + text.index(_PLACEHOLDER.encode()))
        fh.write(digest.hexdigest().encode())
    return target


def open_streamed(cache: EntryStore, kind: str, key: str, name: str) -> tuple[torch.Tensor, dict] | None:
    """The tensor ``name`` of an entry, memory-mapped, with the entry's metadata; ``None`` if
    the entry is missing or fails a check (``cache.last_problem`` then says why)."""
    cache.last_problem = None
    target = cache.path(kind, key)
    if not target.is_file():
        return None
    found = read_streamed(target, kind, key, name)
    if isinstance(found, str):
        cache.last_problem = f"cache entry {target} is not usable ({found}); it is recomputed and replaced"
        return None
    return found


def read_streamed(target: Path, kind: str, key: str, name: str) -> tuple[torch.Tensor, dict] | str:
    """The mapped tensor ``name`` of the entry file ``target`` and its metadata, or what is
    wrong with it (a damaged file, metadata of another entry, a checksum that differs); the
    checksum is streamed, so the file is never all in memory."""
    from toolkit.data.mapped import numpy_dtype, open_mapped

    try:
        offset, meta, spec = _header(target, name)
        problem = metadata_problem(meta, kind, key)
        dtype = next(t for t, code in _DTYPES.items() if code == spec["dtype"])
        shape = tuple(int(n) for n in spec["shape"])
        tensor = open_mapped(target, offset=offset, shape=shape, dtype=numpy_dtype(dtype))
    except Exception as exc:  # a damaged file: short, bad JSON, unknown dtype, wrong size
        return f"unreadable: {type(exc).__name__}"
    if problem is None and checksum({name: tensor}) != meta["checksum"]:
        problem = "its tensors do not match their checksum"
    return problem if problem is not None else (tensor, meta)


def _header(path: Path, name: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Byte offset of the data, the toolkit metadata, and the entry of tensor ``name``."""
    length, header = read_header(path)
    meta = read_metadata(path, header)
    spec = header[name]
    if spec["data_offsets"][0] != 0:
        raise ValueError("unexpected layout")
    return 8 + length, meta, spec
