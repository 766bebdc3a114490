"""A content-addressed artifact store: trained weights and other tensors, keyed by fingerprint.

Each artifact is one safetensors file, ``<root>/<kind>/<key>.safetensors``, whose header
carries JSON metadata (what made it, when, the training history). Files are written to a
temporary name and renamed, so a reader never sees half a file; nothing is loaded with
pickle. A writer killed outright leaves its temporary file (``.<key>.*.tmp``), which readers
ignore and the next save in that folder removes once it is an hour old. The root is
``$TOOLKIT_CACHE`` or ``~/.cache/toolkit/cache``.

Runs in parallel (a sweep's processes, several machines on one shared folder) that need the
same artifact make it once: :meth:`ArtifactCache.lock` is an operating-system file lock
(``<kind>/.<key>.lock``, through ``filelock``) that the maker holds while it computes and
saves; the others wait on it, then find the entry and load it. The lock is released when
its holder exits, even when it is killed, so a crashed maker never blocks the others.

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

from toolkit.execution.entryfile import (
    META_KEY,
    STALE_SECONDS,
    atomic_file,
    checksum,
    metadata_problem,
    read_header,
    read_metadata,
    tensor_line,
)

if TYPE_CHECKING:
    import filelock
    import torch

#: The store, and the entry format's names (:mod:`toolkit.execution.entryfile`) offered here too.
__all__ = [
    "STALE_SECONDS",
    "ArtifactCache",
    "CacheEntry",
    "checksum",
    "default_root",
    "metadata_problem",
    "read_header",
    "read_metadata",
    "tensor_line",
]

_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
#: The memo of the user's files' digests (:mod:`toolkit.data.filedigest`), under the root.
FILE_DIGESTS = "file-digests.sqlite"


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
    #: What is wrong with the entry's header (``None`` if it reads well; the tensors are
    #: checked by :meth:`ArtifactCache.verify`).
    problem: str | None = None


class ArtifactCache:
    """The artifact store under ``root`` (default :func:`default_root`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        #: Why the last :meth:`load` found its entry unusable (``None`` if it did not).
        self.last_problem: str | None = None

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

    def lock(self, kind: str, key: str) -> filelock.BaseFileLock:
        """The file lock for making ``kind``/``key`` (a context manager; ``acquire(timeout=0)``
        raises ``filelock.Timeout`` when another process holds it)."""
        import filelock

        target = self.path(kind, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(str(target.parent / f".{key}.lock"))

    def exists(self, kind: str, key: str) -> bool:
        return self.path(kind, key).is_file()

    def save(self, kind: str, key: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
        """Store ``tensors`` with JSON ``meta`` atomically (temporary file, then rename)."""
        from safetensors.torch import save_file

        target = self.path(kind, key)
        record = {**meta, "created": time.time(), "kind": kind, "key": key, "checksum": checksum(tensors)}
        # copies: safetensors refuses tensors that share memory (tied weights)
        plain = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
        with atomic_file(target, key) as tmp:
            save_file(plain, tmp, metadata={META_KEY: json.dumps(record, default=str)})
        return target

    def load(
        self, kind: str, key: str, *, device: str = "cpu"
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The tensors and metadata of an artifact, or ``None`` if it is missing or fails a
        check (:meth:`problem` then says why; the next save replaces the entry)."""
        self.last_problem = None
        target = self.path(kind, key)
        if not target.is_file():
            return None
        found = self._read(target, kind, key, device)
        if isinstance(found, str):
            self.last_problem = f"cache entry {target} is not usable ({found}); it is recomputed and replaced"
            return None
        return found

    def _read(
        self, target: Path, kind: str, key: str, device: str = "cpu"
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | str:
        """The tensors and metadata of one entry, or what is wrong with it: a damaged file,
        metadata of the wrong type, another key or kind than its name, a stage whose
        fingerprint is not the key, or tensors whose checksum differs from the stored one."""
        from safetensors.torch import load_file

        try:
            meta = read_metadata(target)
            tensors = load_file(str(target), device=device)
        except Exception as exc:  # a damaged file (struct.error, JSON, safetensors' own errors)
            return f"unreadable: {type(exc).__name__}"
        problem = metadata_problem(meta, kind, key)
        if problem is None and checksum(tensors) != meta["checksum"]:
            problem = "its tensors do not match their checksum"
        return problem if problem is not None else (tensors, meta)

    def verify(self) -> list[tuple[CacheEntry, str | None]]:
        """Every entry with what is wrong with it (``None`` when it passes every check)."""
        return [(e, e.problem or self._problem(e)) for e in self.entries()]

    def _problem(self, entry: CacheEntry) -> str | None:
        if entry.kind == "images":  # decoded image folders: checked a chunk at a time
            from toolkit.execution.streamed import read_streamed

            mapped = read_streamed(entry.path, entry.kind, entry.key, "x")
            return mapped if isinstance(mapped, str) else None
        found = self._read(entry.path, entry.kind, entry.key)
        return found if isinstance(found, str) else None

    def entries(self) -> list[CacheEntry]:
        """Every artifact, newest first; reads only the files' headers."""
        out: list[CacheEntry] = []
        if not self.root.is_dir():
            return out
        for path in self.root.glob("*/*.safetensors"):
            try:
                stat = path.stat()
            except OSError:
                continue
            try:
                meta = read_metadata(path)
                problem = metadata_problem(meta, path.parent.name, path.stem)
            except (OSError, ValueError, struct.error) as exc:
                meta, problem = {}, f"unreadable header: {type(exc).__name__}"
            created = meta.get("created") if problem is None else None
            when = float(created) if isinstance(created, int | float) else stat.st_mtime
            out.append(CacheEntry(path.parent.name, path.stem, path, stat.st_size, when, meta, problem))
        return sorted(out, key=lambda e: e.created, reverse=True)

    def clear(self, kind: str | None = None) -> int:
        """Remove every artifact (or those of one kind); returns how many were removed.

        Only the store's own files are deleted (``*.safetensors``, unfinished temporary files
        and free locks); a folder is removed only once it is empty. An entry a run is making
        now (its lock is held) is left alone, lock, temporary file and all, so no second run
        starts making the same model beside it.
        """
        if kind is not None and not _KEY.match(kind):
            raise ValueError(f"invalid cache kind {kind!r}")
        removed = 0
        if not self.root.is_dir():
            return 0
        if kind is None:  # the memo of file digests goes too (it is rebuilt by hashing)
            with contextlib.suppress(OSError):
                (self.root / FILE_DIGESTS).unlink()
        folders = [self.root / kind] if kind else [p for p in self.root.iterdir() if p.is_dir()]
        for folder in folders:
            if not folder.is_dir():
                continue
            busy = _free_locks(folder)  # keys a run is making now: their files stay
            for path in folder.glob("*.safetensors"):
                if path.stem not in busy:
                    path.unlink()
                    removed += 1
            for path in folder.glob(".*.tmp"):
                if path.name[1:].split(".")[0] not in busy:
                    with contextlib.suppress(OSError):
                        path.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()
        return removed


def _free_locks(folder: Path) -> set[str]:
    """Remove the locks in ``folder`` that no process holds; the keys of those held."""
    import filelock

    busy = set()
    for path in folder.glob(".*.lock"):
        lock = filelock.FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            busy.add(path.name[1 : -len(".lock")])
            continue
        try:
            with contextlib.suppress(OSError):
                path.unlink()
        finally:
            lock.release()
    return busy
