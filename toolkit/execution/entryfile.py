"""The on-disk format of an artifact-cache entry, shared by the cache and the streamed store.

An entry is one safetensors file, ``<root>/<kind>/<key>.safetensors``. Its header's
``__metadata__`` holds one string under :data:`META_KEY`: the JSON of what made the entry,
with at least ``created`` (seconds since the epoch), ``kind``, ``key`` and ``checksum``
(:func:`checksum` of its tensors). Both writers, :class:`~toolkit.execution.cache.ArtifactCache`
(whole tensors) and :func:`~toolkit.execution.streamed.save_streamed` (one tensor a chunk
at a time), write through :func:`atomic_file`: a temporary file ``.<key>.*.tmp`` beside the
entry, renamed onto it when complete, so a reader never sees half a file. A writer killed
outright leaves its temporary file, which readers ignore and the next write in that folder
removes once it is :data:`STALE_SECONDS` old (:func:`remove_stale_temporaries`).

This module reads headers with the standard library alone and imports torch only to hash
tensors; it imports no other part of the execution package.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from safetensors.torch import save_file
    >>> target = Path(tempfile.mkdtemp()) / "model" / "abc.safetensors"
    >>> with atomic_file(target, "abc") as tmp:
    ...     save_file({"w": torch.ones(2)}, tmp, metadata={META_KEY: '{"note": "demo"}'})
    >>> read_metadata(target), sorted(p.name for p in target.parent.iterdir())
    ({'note': 'demo'}, ['abc.safetensors'])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: The key of the toolkit's JSON in a safetensors header's ``__metadata__``.
META_KEY = "toolkit"
#: Age after which a temporary file is a killed writer's leftover, not a save in progress.
STALE_SECONDS = 3600.0
#: How many bytes of a tensor :func:`checksum` hashes at a time.
CHUNK_BYTES = 64 * 2**20


def remove_stale_temporaries(folder: Path) -> None:
    """Delete the temporary files (``.*.tmp``) in ``folder`` older than :data:`STALE_SECONDS`."""
    cutoff = time.time() - STALE_SECONDS
    for path in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


@contextlib.contextmanager
def atomic_file(target: Path, key: str) -> Iterator[str]:
    """A temporary file beside ``target`` to write the entry ``key`` into, renamed onto
    ``target`` when the block ends without an error and removed in any case.

    The folder is created if need be, and stale temporaries in it are removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def checksum(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order; the bytes are
    read a chunk at a time, so a memory-mapped tensor is never copied whole."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(tensor_line(name, t.dtype, tuple(t.shape)))
        flat = t.reshape(-1).view(torch.uint8).numpy()
        for start in range(0, len(flat), CHUNK_BYTES):
            digest.update(flat[start : start + CHUNK_BYTES].data)
    return digest.hexdigest()


def tensor_line(name: str, dtype: torch.dtype, shape: tuple[int, ...]) -> bytes:
    """What :func:`checksum` hashes before a tensor's bytes."""
    return f"{name}|{dtype}|{shape}|".encode()


#: Fields an entry's metadata may have, and the JSON types each must be.
OPTIONAL_FIELDS: dict[str, Any] = {
    "seconds": (int, float),
    "history": (list, dict),
    "description": str,
    "stage": dict,
    "kind": str,
    "key": str,
}


def metadata_problem(meta: Mapping[str, Any], kind: str, key: str) -> str | None:
    """What is wrong with an entry's metadata (``None`` if nothing): fields of the wrong type,
    another kind or key than the file's name, or a recorded stage whose fingerprint is not
    the key (an entry copied under another key)."""
    from toolkit.recipe import fingerprint

    if not isinstance(meta.get("created"), int | float) or not isinstance(meta.get("checksum"), str):
        return "its metadata lacks a creation time or a checksum, or has them of the wrong type"
    wrong = [
        name for name, kinds in OPTIONAL_FIELDS.items() if name in meta and not isinstance(meta[name], kinds)
    ]
    if wrong:
        return f"its metadata has {', '.join(wrong)} of the wrong type"
    if meta.get("kind") != kind or meta.get("key") != key:
        return f"it was stored as {meta.get('kind')}/{meta.get('key')}, not {kind}/{key}"
    if "stage" in meta and fingerprint(meta["stage"]) != key:
        return "the stage it records does not have this fingerprint"
    return None


def read_header(path: str | Path) -> tuple[int, dict[str, Any]]:
    """The length and the JSON of a safetensors file's header, read without torch."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"{path} is not a safetensors file")
        (size,) = struct.unpack("<Q", head)
        if size > 100_000_000:
            raise ValueError(f"{path} is not a safetensors file")
        header = json.loads(fh.read(size))
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file")
    return size, header


def read_metadata(path: str | Path, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON metadata in a safetensors file's header (``header``, when already read),
    read without torch.

    Raises:
        ValueError: the header's ``__metadata__`` is not a table of strings, or the toolkit's
            entry in it is not a JSON object (the file is a bad entry, never a crash).
    """
    header = read_header(path)[1] if header is None else header
    table = header.get("__metadata__", {})
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"{path}: its __metadata__ is not a table of strings")
    meta = json.loads(table.get(META_KEY, "{}"))
    if not isinstance(meta, dict):
        raise ValueError(f"{path} has no toolkit metadata")
    return meta
