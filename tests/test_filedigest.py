"""Digests of the user's files: SHA-256 of their bytes, remembered while a file is unchanged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from toolkit.data import filedigest
from toolkit.errors import DataError


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled at once (they are seconds old in real use)."""
    monkeypatch.setattr(filedigest, "FRESH_NS", -(10**12))


def test_digests_are_the_files_sha256_and_are_remembered(
    tmp_path: Path, settled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [tmp_path / f"{i}.bin" for i in range(3)]
    for i, f in enumerate(files):
        f.write_bytes(bytes([i]) * 1000)
    memo = tmp_path / "memo.sqlite"
    assert filedigest.digests(files, memo=memo) == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]

    def no_reading(path: Path, what: str) -> str:
        raise AssertionError(f"{path} was read again")

    hashed = filedigest._hash
    monkeypatch.setattr(filedigest, "_hash", no_reading)
    assert filedigest.digests(files, memo=memo)[1] == hashlib.sha256(files[1].read_bytes()).hexdigest()
    monkeypatch.setattr(filedigest, "_hash", hashed)


def test_a_file_replaced_with_the_same_size_and_modification_time_gets_a_new_digest(
    tmp_path: Path, settled: None
) -> None:
    target, memo = tmp_path / "w.bin", tmp_path / "memo.sqlite"
    target.write_bytes(b"a" * 64)
    first = filedigest.digests([target], memo=memo)
    stat = target.stat()
    target.write_bytes(b"b" * 64)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the time put back
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert filedigest.digests([target], memo=memo) != first
    assert filedigest.digests([target], memo=memo) == [hashlib.sha256(b"b" * 64).hexdigest()]


def test_a_fresh_file_is_hashed_but_not_remembered(tmp_path: Path) -> None:
    target, memo = tmp_path / "w.bin", tmp_path / "memo.sqlite"
    target.write_bytes(b"new")
    filedigest.digests([target], memo=memo)  # written just now: its time may not tick on the next write
    assert filedigest._recall(memo, [str(target.resolve())]) == {}


@pytest.mark.parametrize(
    "damage",
    [b"not a database at all" * 100, b""],
    ids=["garbage", "empty"],
)
def test_a_damaged_memo_is_rebuilt_and_the_digests_stay_right(
    tmp_path: Path, settled: None, damage: bytes
) -> None:
    target, memo = tmp_path / "w.bin", tmp_path / "memo.sqlite"
    target.write_bytes(b"x" * 10)
    memo.write_bytes(damage)
    assert filedigest.digests([target], memo=memo) == [hashlib.sha256(b"x" * 10).hexdigest()]
    assert filedigest._recall(memo, [str(target.resolve())])  # remembered in a rebuilt memo


def test_a_forged_row_that_is_not_a_digest_is_ignored(tmp_path: Path, settled: None) -> None:
    import sqlite3

    target, memo = tmp_path / "w.bin", tmp_path / "memo.sqlite"
    target.write_bytes(b"y")
    filedigest.digests([target], memo=memo)
    with sqlite3.connect(memo) as db:
        db.execute("UPDATE digests SET sha = ?", ("../../etc/passwd",))
    db.close()
    assert filedigest.digests([target], memo=memo) == [hashlib.sha256(b"y").hexdigest()]


def test_an_unwritable_memo_still_gives_the_digests(tmp_path: Path, settled: None) -> None:
    target = tmp_path / "w.bin"
    target.write_bytes(b"z")
    (tmp_path / "file").write_text("a file where the memo's folder should be")
    memo = tmp_path / "file" / "memo.sqlite"
    assert filedigest.digests([target], memo=memo) == [hashlib.sha256(b"z").hexdigest()]


def test_a_missing_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot read image .*gone\.png"):
        filedigest.digests([tmp_path / "gone.png"], memo=tmp_path / "memo.sqlite", what="image")


def test_cache_clear_removes_the_memo(tmp_path: Path, settled: None) -> None:
    from toolkit.execution.cache import FILE_DIGESTS, ArtifactCache

    target = tmp_path / "w.bin"
    target.write_bytes(b"q")
    filedigest.digests([target], memo=tmp_path / "cache" / FILE_DIGESTS)
    assert (tmp_path / "cache" / FILE_DIGESTS).is_file()
    ArtifactCache(tmp_path / "cache").clear()
    assert not (tmp_path / "cache" / FILE_DIGESTS).exists()
