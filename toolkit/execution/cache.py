"""A content-addressed artifact store: trained weights and other tensors, keyed by fingerprint.

Each artifact is one safetensors file, ``<root>/<kind>/<key>.safetensors``, whose header
carries JSON metadata (what made it, when, the training history). Files are written to a
temporary name and renamed, so a reader never sees half a file; nothing is loaded with
pickle. The root is ``$TOOLKIT_CACHE`` or ``~/.cache/toolkit/cache``.

Example:
    >>> import tempfile, torch
    >>> store = ArtifactCache(tempfile.mkdtemp())
    >>> _ = store.save("model", "abc", {"w": torch.ones(2)}, {"note": "demo"})
    >>> tensors, meta = store.load("model", "abc")
    >>> meta["note"], tensors["w"].tolist()
    ('demo', [1.0, 1.0])
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_META_KEY = "toolkit"


def default_root() -> Path:
    """``$TOOLKIT_CACHE``, else ``$XDG_CACHE_HOME/toolkit/cache``, else ``~/.cache/toolkit/cache``."""
    env = os.environ.get("TOOLKIT_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "toolkit" / "cache"


@dataclass(frozen=True)
class CacheEntry:
    """One artifact in the store, as ``toolkit cache ls`` shows it."""

    kind: str
    key: str
    path: Path
    size: int
    created: float
    meta: dict[str, Any]


class ArtifactCache:
    """The artifact store under ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def unwritable(self) -> str | None:
        """Why nothing can be stored here (``None`` if the store is writable): the root is a
        file, or a folder that cannot be created or written to."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc.strerror or exc}"
        return None

    def path(self, kind: str, key: str) -> Path:
        """Where the artifact ``kind``/``key`` lives."""
        for part in (kind, key):
            if not _KEY.match(part):
                raise ValueError(f"invalid cache name {part!r}")
        return self.root / kind / f"{key}.safetensors"

    def exists(self, kind: str, key: str) -> bool:
        return self.path(kind, key).is_file()

    def save(self, kind: str, key: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
        """Store ``tensors`` with JSON ``meta`` atomically (temporary file, then rename)."""
        from safetensors.torch import save_file

        target = self.path(kind, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        record = {**meta, "created": time.time()}
        # copies: safetensors refuses tensors that share memory (tied weights)
        plain = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            save_file(plain, tmp, metadata={_META_KEY: json.dumps(record, default=str)})
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def load(
        self, kind: str, key: str, *, device: str = "cpu"
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The tensors and metadata of an artifact, or ``None`` if it is missing or unreadable."""
        from safetensors.torch import load_file

        target = self.path(kind, key)
        if not target.is_file():
            return None
        try:
            meta = read_metadata(target)
            tensors = load_file(str(target), device=device)
        except Exception:  # a damaged file is a miss; the next save replaces it (struct.error too)
            return None
        return tensors, meta

    def entries(self) -> list[CacheEntry]:
        """Every artifact, newest first; reads only the files' headers."""
        out: list[CacheEntry] = []
        if not self.root.is_dir():
            return out
        for path in self.root.glob("*/*.safetensors"):
            try:
                meta = read_metadata(path)
                stat = path.stat()
            except (OSError, ValueError, struct.error):
                continue
            out.append(
                CacheEntry(
                    path.parent.name,
                    path.stem,
                    path,
                    stat.st_size,
                    float(meta.get("created", stat.st_mtime)),
                    meta,
                )
            )
        return sorted(out, key=lambda e: e.created, reverse=True)

    def clear(self, kind: str | None = None) -> int:
        """Remove every artifact (or those of one kind); returns how many were removed.

        Only the store's own files are deleted (``*.safetensors`` and unfinished temporary
        files); a folder is removed only once it is empty.
        """
        if kind is not None and not _KEY.match(kind):
            raise ValueError(f"invalid cache kind {kind!r}")
        removed = 0
        if not self.root.is_dir():
            return 0
        folders = [self.root / kind] if kind else [p for p in self.root.iterdir() if p.is_dir()]
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in folder.glob("*.safetensors"):
                path.unlink()
                removed += 1
            for path in folder.glob(".*.tmp"):
                path.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()
        return removed


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata in a safetensors file's header, read without torch."""
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
    text = header.get("__metadata__", {}).get(_META_KEY, "{}")
    meta = json.loads(text)
    if not isinstance(meta, dict):
        raise ValueError(f"{path} has no toolkit metadata")
    return meta
