"""The artifact cache under concurrency: runs that need one model make it once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_RECIPE, subprocess_env

from toolkit.execution.cache import ArtifactCache


def test_two_concurrent_runs_sharing_a_model_train_it_once(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    cache = tmp_path / "shared-cache"
    env = {**subprocess_env(), "TOOLKIT_CACHE": str(cache)}
    # long enough training (a few seconds) that the second run arrives while the first trains
    args = ["--set", "train.epochs=120", "--set", "dataset.n_per_class=200", "--quiet"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "toolkit", "run", str(recipe), *args, "--out", str(tmp_path / f"out{i}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    metas, logs = [], []
    for i in range(2):
        (folder,) = (tmp_path / f"out{i}" / "tiny").iterdir()
        metas.append(json.loads((folder / "meta.json").read_text()))
        logs.append((folder / "log.txt").read_text())
    assert sorted(m["model_cached"] for m in metas) == [False, True]  # trained once, reused once
    waited = logs[[m["model_cached"] for m in metas].index(True)]
    assert "another run is making model" in waited and "reusing cached model" in waited
    assert [e.kind for e in ArtifactCache(cache).entries()] == ["model"]
    metrics = [json.loads((f / "metrics.json").read_text()) for f in (tmp_path / "out0" / "tiny").iterdir()]
    assert metrics[0]["accuracy"] > 0.5


def test_a_lock_held_by_a_dead_process_does_not_block(tmp_path: Path) -> None:
    """The lock is the operating system's: it goes with the process that held it."""
    store = ArtifactCache(tmp_path / "cache")
    code = (
        "import os, sys; from toolkit.execution.cache import ArtifactCache;"
        f"lock = ArtifactCache({str(store.root)!r}).lock('model', 'k'); lock.acquire(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], env=subprocess_env(), check=True, timeout=60)
    lock = store.lock("model", "k")
    lock.acquire(timeout=5)  # would raise filelock.Timeout if the dead holder still held it
    lock.release()


def test_a_crashed_writer_leaves_nothing_a_reader_trusts(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    store = ArtifactCache(tmp_path / "cache")
    store.save("model", "abc", {"w": torch.ones(3)}, {})
    path = store.path("model", "abc")
    path.write_bytes(path.read_bytes()[:-5])  # a torn write (no atomic rename)
    assert store.load("model", "abc") is None
    assert store.last_problem is not None and "not usable" in store.last_problem
