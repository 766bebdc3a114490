"""Data-parallel training under torchrun (DDP): two CPU processes with the Gloo backend.

``python -m torch.distributed.run --nproc_per_node=2 -m toolkit run recipe.toml`` is
compared with a one-process run of the same recipe. With mini-batches the two runs see
different batches (each process trains on its own shard of every epoch, with half the
batch) and add numbers in another order (gradients averaged over the processes, losses
summed across them), so their metrics agree within a tolerance, not bit for bit:
test accuracy within :data:`ACCURACY_TOLERANCE` (0.05; the largest gap seen over seeds
0, 1 and 2 of :data:`RECIPE` was 0.022). With one full batch per step the gradients are
the same sums in another order, so the slow test asks for agreement to rounding.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import subprocess_env

from toolkit.errors import UsageError
from toolkit.execution.runner import run
from toolkit.recipe import TrainConfig, load_recipe

#: Largest gap in test accuracy allowed between two processes and one (absolute).
ACCURACY_TOLERANCE = 0.05

#: 420 training samples of three Gaussian classes, 32 per step (16 per process), 5 epochs.
RECIPE = """\
task = "ood"
name = "ddp_check"
seed = 0

[dataset]
name = "synthetic"
holdout = ["c3"]
n_per_class = 200

[model]
name = "mlp"
hidden = [32]

[train]
epochs = 5
lr = 0.05
batch_size = 32

[runtime]
threads = 1
device = "cpu"

[[detectors]]
name = "msp"
"""

#: The same data trained by full-batch gradient descent: every step sees all 420 samples.
FULL_BATCH = ["--set", "train.batch_size=420", "--set", "train.epochs=20", "--set", "train.lr=0.5"]

_TORCHRUN_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(
    recipe: Path, *args: str, root: Path, site: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``toolkit run`` in two processes under torchrun, with the cache, the run folders and
    the temporary files (where ranks other than 0 write) under ``root`` (``site`` first on
    the processes' ``sys.path``, ``env`` added to their environment)."""
    environ = subprocess_env([site] if site is not None else None)
    for name in _TORCHRUN_ENV:
        environ.pop(name, None)
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    environ.update(TOOLKIT_CACHE=str(root / "cache"), TMPDIR=str(root / "tmp"), OMP_NUM_THREADS="1")
    environ.update(env or {})
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}", "-m", "toolkit", "run", str(recipe), "--out", str(root / "runs"), *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)


def _runs(root: Path) -> list[Path]:
    parent = root / "runs" / "ddp_check"
    return sorted(parent.iterdir()) if parent.exists() else []


def _cached(root: Path) -> list[Path]:
    return sorted((root / "cache").rglob("*.safetensors"))


def _read(folder: Path, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((folder / name).read_text())


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "ddp_check.toml"
    path.write_text(RECIPE)
    return path


def test_shards_deal_each_epoch_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """What each of two processes trains on, from the environment torchrun sets."""
    from toolkit.training.ddp import Shards

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    plans = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        plans.append(Shards(TrainConfig(batch_size=8), 11, 0))
    assert [p.batch_size for p in plans] == [4, 4] and [p.steps for p in plans] == [2, 2]
    first = [p.order(1).tolist() for p in plans]
    assert len(first[0]) == len(first[1]) == 6  # 11 samples: the last shard is padded by one
    assert set(first[0]) | set(first[1]) == set(range(11))
    assert len(set(first[0]) & set(first[1])) == 1
    second = [p.order(2).tolist() for p in plans]
    assert second != first and set(second[0]) | set(second[1]) == set(range(11))
    assert [p.order(1).tolist() for p in plans] == first  # a seeded deal, the same every time
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(UsageError, match=r"batch_size 7 does not split over 2 processes"):
        Shards(TrainConfig(batch_size=7), 11, 0)


def test_torchrun_environment_must_be_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.execution import distributed

    for name in _TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched() and distributed.is_main() and distributed.world_size() == 1
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.launched()  # one process under torchrun: a plain run
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set"):
        distributed.launched()


def test_two_processes_match_one(recipe: Path, tmp_path: Path) -> None:
    """Two processes under torchrun: the metrics of one process within the tolerance, one
    run folder, one cache entry, and only rank 0 on the console."""
    single = run(load_recipe(recipe), out_dir=tmp_path / "single", use_cache=False, console=None)
    root = tmp_path / "ddp"
    done = torchrun(recipe, root=root)
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = _runs(root)  # exactly one run folder, complete
    assert len(_cached(root)) == 1
    assert not list((root / "tmp").glob("toolkit-rank*"))  # rank 1's folder is gone
    meta, metrics = _read(folder, "meta.json"), _read(folder, "metrics.json")
    assert meta["distributed"] == {"world_size": 2, "backend": "gloo"} and meta["model_cached"] is False
    assert "distributed" not in single.meta
    gap = abs(metrics["accuracy"] - single.metrics["accuracy"])
    assert gap <= ACCURACY_TOLERANCE, (metrics["accuracy"], single.metrics["accuracy"])
    history = _read(folder, "history.json")
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 2
    output = done.stdout + done.stderr
    assert output.count("rank 0 of 2 (gloo, data-parallel)") == 1 and "rank 1 of 2" not in output
    assert output.count("run folder:") == 1 and output.count("data synthetic") == 1


@pytest.mark.slow
def test_full_batch_agrees_to_rounding_and_the_cache_is_shared(recipe: Path, tmp_path: Path) -> None:
    """Full-batch gradient descent in two processes is one process's up to rounding; a second
    torchrun run reuses the model rank 0 stored, on both ranks."""
    single = run(load_recipe(recipe, FULL_BATCH[1::2]), out_dir=tmp_path / "single", use_cache=False,
                 console=None)  # fmt: skip
    expected = _read(single.path, "history.json")
    root = tmp_path / "ddp"
    first = torchrun(recipe, *FULL_BATCH, root=root)
    assert first.returncode == 0, first.stdout + first.stderr
    (folder,) = _runs(root)
    for got, want in zip(_read(folder, "history.json"), expected, strict=True):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            assert math.isclose(got[key], want[key], rel_tol=1e-5, abs_tol=1e-6), (key, got, want)
    again = torchrun(recipe, *FULL_BATCH, root=root)
    assert again.returncode == 0, again.stdout + again.stderr
    second = [p for p in _runs(root) if p != folder]
    assert len(second) == 1 and len(_cached(root)) == 1
    assert _read(second[0], "meta.json")["model_cached"] is True
    assert _read(second[0], "metrics.json") == _read(folder, "metrics.json")
    assert "reusing cached model" in again.stdout and "rank 1" not in again.stdout + again.stderr


#: ``toolkit.training.train`` that also saves the trained model of each rank to ``$DUMP``.
_DUMP_MODELS = """\
import os
if os.environ.get("DUMP"):
    import toolkit.training
    from safetensors.torch import save_file
    inner = toolkit.training.train
    def train(model, *args, **kwargs):
        history = inner(model, *args, **kwargs)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(os.environ["DUMP"], "rank" + os.environ["RANK"] + ".safetensors"))
        return history
    toolkit.training.train = train
"""


@pytest.mark.slow
def test_every_rank_ends_with_the_same_model(tmp_path: Path) -> None:
    """A CNN with batch norm, trained with augmentation: its weights and its running
    statistics are the same in both processes at the end (each rank's last batch updates
    its own statistics; rank 0's are sent to all after every epoch)."""
    recipe = tmp_path / "ddp_check.toml"
    recipe.write_text(
        RECIPE.replace('holdout = ["c3"]', 'holdout = ["c3"]\nmodality = "image"')
        .replace('name = "mlp"\nhidden = [32]', 'name = "small_cnn"')
        .replace("epochs = 5", 'epochs = 2\naugment = ["random_crop", "hflip"]')
    )
    site, dump = tmp_path / "site", tmp_path / "dump"
    site.mkdir()
    dump.mkdir()
    (site / "sitecustomize.py").write_text(_DUMP_MODELS)
    done = torchrun(recipe, root=tmp_path / "ddp", site=site, env={"DUMP": str(dump)})
    assert done.returncode == 0, done.stdout + done.stderr
    from safetensors.torch import load_file

    first, second = (load_file(str(dump / f"rank{r}.safetensors")) for r in (0, 1))
    assert any("running_mean" in key for key in first) and first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.slow
def test_a_failure_on_one_rank_ends_the_job(recipe: Path, tmp_path: Path) -> None:
    """Rank 1 alone fails in its first evaluation (a fault put in by ``sitecustomize``) while
    rank 0 waits for it in a collective: both say what happened, with their rank, the job
    exits non-zero at once, and neither a run folder nor a cache entry is left."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('RANK') == '1':\n"
        "    import toolkit.training.loop\n"
        "    def fail(*args, **kwargs):\n"
        "        raise RuntimeError('a fault on rank 1')\n"
        "    toolkit.training.loop.scores = fail\n"
    )
    root = tmp_path / "ddp"
    done = torchrun(recipe, root=root, site=site)
    assert done.returncode != 0
    assert "error (rank 1 of 2): run 'ddp_check' failed" in done.stderr and "a fault on rank 1" in done.stderr
    assert "error (rank 0 of 2)" in done.stderr or "interrupted (SIGTERM)" in done.stderr
    assert _runs(root) == [] and _cached(root) == []
    assert not list((root / "tmp").glob("toolkit-rank*"))
