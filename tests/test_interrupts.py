"""Interrupts: SIGINT and SIGTERM end a run cleanly; SIGKILL at any point leaves nothing that
looks complete but is not, and the next run succeeds and removes what the killed one left."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_RECIPE, subprocess_env

from toolkit.execution.cache import ArtifactCache

RUN_FILES = ("recipe.toml", "meta.json", "metrics.json", "history.json", "report.html", "log.txt")


def start_run(recipe: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", str(recipe), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def partial_log(out: Path) -> str:
    logs = list(out.glob("tiny/.partial-*/log.txt"))
    try:
        return logs[0].read_text() if logs else ""
    except OSError:  # renamed or removed while we looked
        return ""


def wait_for(proc: subprocess.Popen[str], out: Path, marker: str, timeout: float = 120) -> bool:
    """Wait until the running run's log shows ``marker``; false if the run ended first."""
    deadline = time.monotonic() + timeout
    while marker not in partial_log(out):
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"the run never logged {marker!r}"
        time.sleep(0.05)
    return True


# Once failed in twelve runs, and could not be made to fail again (24 of 24, 12 of them on a
# machine kept busy by two other processes). The likely cause, a signal landing in a
# finalizer (an "Exception ignored" traceback, the stop lost), is fixed: the stop is re-raised
# and that report silenced. Since then it has passed every run (18 of 18 repeated, and every
# full suite).
@pytest.mark.parametrize(
    ("signame", "code", "word"), [("SIGTERM", 143, "SIGTERM"), ("SIGINT", 130, "Ctrl-C")]
)
def test_a_signal_mid_run_exits_cleanly(tmp_path: Path, signame: str, code: int, word: str) -> None:
    """A run interrupted while training: one line, the signal's exit status, nothing left."""
    recipe = tmp_path / "long.toml"
    recipe.write_text(TINY_RECIPE.replace("epochs = 3", "epochs = 100000"))
    out = tmp_path / "out"
    proc = start_run(recipe, out)
    assert wait_for(proc, out, "training"), proc.communicate()[1]
    time.sleep(0.5)
    proc.send_signal(getattr(signal, signame))
    _, stderr = proc.communicate(timeout=60)
    # after SIGINT, Python may end by re-raising the signal (-2, which a shell reports as 130)
    assert proc.returncode in (code, -getattr(signal, signame)), stderr
    assert f"interrupted ({word})" in stderr and "Traceback" not in stderr
    assert not (out / "tiny").exists(), list(out.rglob("*"))  # no partial folder, no empty run folder
    cache = Path(os.environ["TOOLKIT_CACHE"])
    assert not list(cache.rglob("*.safetensors"))


def check_complete(out: Path, cache: Path) -> None:
    """Every visible run folder is whole, and every cache entry passes every check."""
    for folder in (out / "tiny").glob("[!.]*") if (out / "tiny").is_dir() else []:
        missing = [f for f in RUN_FILES if not (folder / f).is_file()]
        assert not missing, f"{folder} lacks {missing}"
        json.loads((folder / "metrics.json").read_text())
    bad = [(e.key, p) for e, p in ArtifactCache(cache).verify() if p]
    assert not bad, bad


def kill_and_check(tmp_path: Path, points: list[tuple[str, float]], rerun_each: bool) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.replace("epochs = 3", "epochs = 40"))
    out = tmp_path / "out"
    cache = Path(os.environ["TOOLKIT_CACHE"])
    abandoned = 0
    for i, (marker, delay) in enumerate(points):
        if i % 2:  # every other kill also has a stored model to reuse or replace
            ArtifactCache(cache).clear()
        proc = start_run(recipe, out)
        if marker:
            wait_for(proc, out, marker)
        time.sleep(delay)
        proc.kill()
        proc.communicate(timeout=60)
        check_complete(out, cache)
        abandoned += len(list(out.glob("tiny/.partial-*")))
        if rerun_each or i == len(points) - 1:
            rerun = start_run(recipe, out)
            stdout, stderr = rerun.communicate(timeout=300)
            assert rerun.returncode == 0, stderr
            assert Path(stdout.strip()).is_dir()
            check_complete(out, cache)
            # the killed run's partial folder is gone: its process no longer exists
            assert not list((out / "tiny").glob(".partial-*")), list((out / "tiny").iterdir())
    assert abandoned, "no kill landed inside a run: the test tried nothing"


def kill_points(n: int, seed: int) -> list[tuple[str, float]]:
    """Points in a run: right after a log line (data loaded, training started, training done:
    about to store the model) plus a random delay, or a random time after start."""
    rng = random.Random(seed)
    markers = ["", "data ", "training", "done in", "msp"]
    return [(rng.choice(markers), rng.uniform(0, 0.6)) for _ in range(n)]


def test_sigkill_at_random_points_leaves_only_complete_entries(tmp_path: Path) -> None:
    kill_and_check(tmp_path, [("training", 0.2), ("done in", 0.0), ("", 1.5)], rerun_each=False)


@pytest.mark.slow
def test_sigkill_at_many_random_points(tmp_path: Path) -> None:
    kill_and_check(tmp_path, kill_points(12, seed=int(os.environ.get("KILL_SEED", "0"))), rerun_each=True)
