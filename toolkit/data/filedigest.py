"""What a user's file holds, as SHA-256 of its bytes, remembered while the file is unchanged.

Cache keys built from the user's files (an image folder's decoded copy, a local checkpoint's
files) must change when a file's content does, also when a file is replaced by another of
the same size and modification time (``os.utime`` puts a modification time back). Hashing
every file at every run would read a large image folder in full each time, so the digest of
each file is remembered in ``<cache root>/file-digests.sqlite`` with the file's status:
size, modification time, *status-change time* (``st_ctime_ns``), inode and device. Writing a
file or setting its times changes its status-change time, which no user call can set back,
so a file whose status is as remembered holds the bytes that were hashed. A file whose
status differs is hashed again. A file changed in the last :data:`FRESH_NS` (two seconds) is
not remembered: file times advance in ticks of a few milliseconds, so a file written twice
within one tick could keep its status (the "racy" case that git handles the same way).

The memo is a convenience: where it cannot be read or written (a read-only cache, a damaged
file) every file is hashed, and a row that is not a well-formed digest is ignored.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "a.txt").write_text("abc") and None
    >>> digests([folder / "a.txt"], memo=folder / "memo.sqlite")[0][:16]
    'ba7816bf8f01cfea'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from toolkit.errors import DataError

__all__ = ["digests"]

#: A file whose modification or status-change time is this recent (nanoseconds) is hashed
#: but not remembered.
FRESH_NS = 2_000_000_000
_HEX = re.compile(r"^[0-9a-f]{64}$")
#: Paths looked up in the memo per query (SQLite's limit on parameters is 999 in old builds).
_CHUNK = 500


def digests(paths: Sequence[Path], *, memo: Path | None = None, what: str = "file") -> list[str]:
    """SHA-256 (hex) of each file's bytes, in order.

    Args:
        paths: the files.
        memo: the memo file (default ``file-digests.sqlite`` under the artifact cache's root).
        what: how an error names a file ("image", "checkpoint file").

    Raises:
        DataError: a file cannot be read, naming it.
    """
    if memo is None:
        from toolkit.execution.cache import FILE_DIGESTS, default_root

        memo = default_root() / FILE_DIGESTS
    names = [str(Path(p).resolve()) for p in paths]
    stamps = [_stamp(Path(p), what) for p in paths]
    known = _recall(memo, names)
    out: list[str] = []
    fresh: list[tuple[str, str, str]] = []
    for path, name, stamp in zip(paths, names, stamps, strict=True):
        hit = known.get(name)
        if hit is not None and hit[0] == stamp:
            out.append(hit[1])
            continue
        digest = _hash(Path(path), what)
        out.append(digest)
        if time.time_ns() - max(json.loads(stamp)[1:3]) > FRESH_NS:
            fresh.append((name, stamp, digest))
    if fresh:
        _remember(memo, fresh)
    return out


def _stamp(path: Path, what: str) -> str:
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    return json.dumps([st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev])


def _hash(path: Path, what: str) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _connect(memo: Path) -> sqlite3.Connection:
    memo.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(memo, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, stamp TEXT, sha TEXT)")
    return db


def _recall(memo: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    """The remembered ``(stamp, digest)`` of each of ``names`` the memo holds well formed."""
    if not memo.is_file():
        return {}
    found: dict[str, tuple[str, str]] = {}
    try:
        with _connect(memo) as db:
            for start in range(0, len(names), _CHUNK):
                part = names[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                query = f"SELECT path, stamp, sha FROM digests WHERE path IN ({marks})"
                for path, stamp, sha in db.execute(query, part):
                    if isinstance(stamp, str) and isinstance(sha, str) and _HEX.match(sha):
                        found[path] = (stamp, sha)
        db.close()
    except (sqlite3.Error, OSError):  # an unreadable memo: hash every file
        return {}
    return found


def _remember(memo: Path, rows: list[tuple[str, str, str]], *, again: bool = True) -> None:
    try:
        with _connect(memo) as db:
            db.executemany("INSERT OR REPLACE INTO digests (path, stamp, sha) VALUES (?, ?, ?)", rows)
        db.close()
    except sqlite3.DatabaseError as exc:
        if type(exc) is sqlite3.DatabaseError and again:  # not a database (not merely locked): start anew
            with contextlib.suppress(OSError):
                memo.unlink()
            _remember(memo, rows, again=False)
    except OSError:  # a read-only cache: the digests are still right, only not remembered
        pass
