"""The artifact cache: safetensors with JSON metadata, atomic writes, no pickle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.execution.cache import ArtifactCache, default_root, read_metadata


def test_round_trip_and_metadata(tmp_path: Path) -> None:
    store = ArtifactCache(tmp_path / "c")
    tensors = {"w": torch.arange(6.0).view(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    path = store.save("model", "k1", tensors, {"history": [{"epoch": 1}], "description": "d"})
    assert path == tmp_path / "c" / "model" / "k1.safetensors"
    loaded, meta = store.load("model", "k1")  # type: ignore[misc]
    assert torch.equal(loaded["w"], tensors["w"]) and loaded["b"].dtype == torch.int64
    assert meta["history"] == [{"epoch": 1}] and meta["description"] == "d" and "created" in meta
    assert read_metadata(path)["description"] == "d"
    assert [p.name for p in path.parent.iterdir()] == ["k1.safetensors"]  # no temporary files left


def test_files_are_safetensors_not_pickle(tmp_path: Path) -> None:
    store = ArtifactCache(tmp_path)
    path = store.save("model", "k", {"w": torch.ones(1)}, {})
    head = path.read_bytes()[:16]
    assert not head.startswith(b"\x80") and not head.startswith(b"PK")  # neither pickle nor torch zip
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(path))["w"], torch.ones(1))


def test_miss_damaged_entries_and_clear(tmp_path: Path) -> None:
    store = ArtifactCache(tmp_path)
    assert store.load("model", "absent") is None
    store.save("model", "a", {"w": torch.ones(2)}, {"description": "first"})
    store.save("logits", "b", {"w": torch.ones(2)}, {})
    damaged = store.path("model", "c")
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    assert store.load("model", "c") is None
    assert store.last_problem is not None and "model/c.safetensors is not usable" in store.last_problem
    listed = {(e.kind, e.key): e.problem for e in store.entries()}
    assert listed.keys() == {("model", "a"), ("logits", "b"), ("model", "c")}
    assert listed[("model", "a")] is None and "unreadable" in str(listed[("model", "c")])  # listed as bad
    assert store.clear("logits") == 1
    assert store.clear() == 2
    assert store.entries() == []


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ArtifactCache(tmp_path).path("model", "../../etc")


def test_default_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path / "x"))
    assert default_root() == tmp_path / "x"
    monkeypatch.delenv("TOOLKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "toolkit" / "cache"


def test_clear_only_touches_its_own_files(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    store = ArtifactCache(tmp_path / "cache")
    store.save("model", "a", {"w": torch.ones(1)}, {})
    (tmp_path / "cache" / "model" / "notes.txt").write_text("not ours")
    with pytest.raises(ValueError):
        store.clear("../victim")
    with pytest.raises(ValueError):
        store.clear("/tmp")
    assert store.clear() == 1
    assert (victim / "keep.txt").read_text() == "precious"
    assert (tmp_path / "cache" / "model" / "notes.txt").exists()  # not a cache file: left alone


def test_clear_leaves_an_entry_a_run_is_making_alone(tmp_path: Path) -> None:
    """A lock another process holds (a run training that model) stays with its temporary
    file, so no second run starts making the same model; free locks and other entries go."""
    import subprocess
    import sys
    import time

    store = ArtifactCache(tmp_path / "cache")
    store.save("model", "done", {"w": torch.ones(1)}, {})
    store.lock("model", "free").acquire()  # this process's own lock, released: a free one
    store.lock("model", "free").release()
    lock = store.lock("model", "busy").lock_file
    partial = tmp_path / "cache" / "model" / ".busy.abc123.tmp"
    partial.write_bytes(b"half")
    ready = tmp_path / "ready"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, pathlib, sys, time; l = filelock.FileLock(sys.argv[1]); "
         "l.acquire(); pathlib.Path(sys.argv[2]).touch(); time.sleep(60)", lock, str(ready)]
    )  # fmt: skip
    try:
        for _ in range(200):
            if ready.exists():
                break
            time.sleep(0.05)
        assert ready.exists(), "the lock holder did not start"
        assert store.clear() == 1  # the finished entry
        assert Path(lock).exists() and partial.exists()  # the run's lock and its file stay
        assert not (tmp_path / "cache" / "model" / ".free.lock").exists()
    finally:
        holder.kill()
        holder.wait()
    assert store.clear() == 0 and not Path(lock).exists() and not partial.exists()  # free now


def test_short_or_foreign_files_are_listed_as_bad(tmp_path: Path) -> None:
    store = ArtifactCache(tmp_path)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "short.safetensors").write_bytes(b"abc")
    (tmp_path / "model" / "list.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00[]")
    assert sorted(e.key for e in store.entries() if e.problem) == ["list", "short"]
    assert store.load("model", "short") is None


def test_entries_that_lie_are_misses(tmp_path: Path) -> None:
    """Zeroed weight bytes, an entry copied under another key, metadata of the wrong type."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    store = ArtifactCache(tmp_path)
    path = store.save("model", "k", {"w": torch.arange(1.0, 5.0)}, {"description": "real"})
    assert store.load("model", "k") is not None and store.last_problem is None
    meta = read_metadata(path)
    zeroed = {"w": torch.zeros_like(load_file(str(path))["w"])}
    save_file(zeroed, str(path), metadata={"toolkit": json.dumps(meta)})  # same header, other bytes
    assert store.load("model", "k") is None and "checksum" in str(store.last_problem)
    good = store.save("model", "k2", {"w": torch.ones(2)}, {})
    shutil.copy(good, store.path("model", "k3"))  # a valid entry under another key
    assert store.load("model", "k3") is None and "stored as model/k2, not model/k3" in str(store.last_problem)
    bad_meta = {**read_metadata(good), "created": "yesterday"}
    save_file({"w": torch.ones(2)}, str(good), metadata={"toolkit": json.dumps(bad_meta)})
    assert store.load("model", "k2") is None and "wrong type" in str(store.last_problem)
    listed = {e.key: e.problem for e in store.entries()}  # ls works, and says which are bad
    assert listed["k"] is None and listed["k2"] and listed["k3"]
    verified = {e.key: problem for e, problem in store.verify()}
    assert "checksum" in str(verified["k"]) and verified["k2"] and verified["k3"]


def test_tied_weights_can_be_cached(tmp_path: Path) -> None:
    shared = torch.ones(3)
    store = ArtifactCache(tmp_path)
    store.save("model", "tied", {"a": shared, "b": shared}, {})
    loaded, _ = store.load("model", "tied")  # type: ignore[misc]
    assert torch.equal(loaded["a"], loaded["b"])


def test_a_killed_writers_temporary_file_is_ignored_then_removed(tmp_path: Path) -> None:
    import os
    import time

    store = ArtifactCache(tmp_path)
    store.save("model", "a", {"w": torch.ones(1)}, {})
    old = tmp_path / "model" / ".b.x1.tmp"  # what a writer killed mid-save leaves
    fresh = tmp_path / "model" / ".c.x2.tmp"  # a save in progress in another process
    for path in (old, fresh):
        path.write_bytes(b"\0" * 100)
    stale = time.time() - 2 * 3600
    os.utime(old, (stale, stale))
    assert [e.key for e in store.entries()] == ["a"] and store.load("model", "b") is None
    store.save("model", "d", {"w": torch.ones(1)}, {})
    assert not old.exists() and fresh.exists()
