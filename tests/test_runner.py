"""Runs: the run folder, caching of trained models, determinism, failure cleanup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toolkit.errors import RunError
from toolkit.execution.runner import run
from toolkit.recipe import load_recipe, parse_recipe


def test_run_folder_contents(tiny_recipe: Path) -> None:
    result = run(load_recipe(tiny_recipe), console=None)
    folder = result.path
    assert folder.parent == Path("runs/tiny")
    assert folder.name.endswith(result.meta["fingerprints"]["run"][:8])
    names = {p.name for p in folder.iterdir()}
    assert {
        "recipe.toml",
        "meta.json",
        "metrics.json",
        "history.json",
        "report.html",
        "log.txt",
        "figures",
    } <= names
    figures = {p.name for p in (folder / "figures").iterdir()}
    assert figures == {"training_curves.png", "scores_msp.png", "scores_energy.png", "roc.png"}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["detectors"]) == {"msp", "energy"}
    assert 0.0 <= metrics["detectors"]["msp"]["fpr_at_tpr"] <= 1.0
    assert metrics["accuracy"] > 0.5
    meta = json.loads((folder / "meta.json").read_text())
    for key in ("versions", "git", "fingerprints", "timings", "device", "threads", "components"):
        assert key in meta
    assert meta["versions"]["torch"] and meta["timings"]["train"] > 0
    assert meta["components"]["detectors"][0]["distribution"].startswith("trustworthy-ml-toolkit ")
    history = json.loads((folder / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    # the resolved recipe reproduces the same fingerprints
    assert load_recipe(folder / "recipe.toml").fingerprints() == meta["fingerprints"]
    log = (folder / "log.txt").read_text()
    assert "training 3 epochs" in log
    assert "[bold]" not in log and "[/" not in log  # plain text: the console's markup is rendered away
    assert not [p for p in Path("runs/tiny").iterdir() if p.name.startswith(".partial")]


def test_report_is_self_contained(tiny_recipe: Path) -> None:
    html = (run(load_recipe(tiny_recipe), console=None).path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    assert 'src="http' not in html and 'href="http' not in html and "<script" not in html
    assert "held out accepted" in html and "Recipe" in html


def test_second_run_reuses_the_cached_model_with_identical_metrics(tiny_recipe: Path) -> None:
    first = run(load_recipe(tiny_recipe), console=None)
    second = run(load_recipe(tiny_recipe), console=None)
    assert first.meta["model_cached"] is False and second.meta["model_cached"] is True
    assert first.path != second.path
    assert (first.path / "metrics.json").read_text() == (second.path / "metrics.json").read_text()
    assert "reusing cached model" in (second.path / "log.txt").read_text()
    # a changed detector reuses the model; a changed training does not
    changed_detector = run(load_recipe(tiny_recipe, ["detectors.1.temperature=2.0"]), console=None)
    assert changed_detector.meta["model_cached"] is True
    changed_training = run(load_recipe(tiny_recipe, ["train.epochs=2"]), console=None)
    assert changed_training.meta["model_cached"] is False


def test_same_seed_without_cache_gives_identical_metrics(tiny_recipe: Path) -> None:
    a = run(load_recipe(tiny_recipe), console=None, use_cache=False)
    b = run(load_recipe(tiny_recipe), console=None, use_cache=False)
    assert (a.path / "metrics.json").read_text() == (b.path / "metrics.json").read_text()
    assert a.meta["model_cached"] is False and b.meta["model_cached"] is False
    assert not list((Path.cwd() / "cache").rglob("*.safetensors"))  # --no-cache writes nothing
    c = run(load_recipe(tiny_recipe, ["seed=1"]), console=None, use_cache=False)
    assert (c.path / "metrics.json").read_text() != (a.path / "metrics.json").read_text()


def test_failed_run_leaves_no_folder(tiny_recipe: Path) -> None:
    recipe = load_recipe(tiny_recipe, ["train.lr=1e30"])
    with pytest.raises(RunError, match="run 'tiny' failed"):
        run(recipe, console=None)
    assert not Path("runs/tiny").exists()  # not even an empty folder for the recipe


def test_usage_errors_raised_during_a_run_keep_their_class(tiny_recipe: Path) -> None:
    from toolkit.errors import UsageError

    Path("runs/fair").mkdir(parents=True)  # a folder that was there before stays
    recipe = parse_recipe({"task": "fairness", "name": "fair", "dataset": {"name": "synthetic"},
                           "model": {"name": "mlp"}, "train": {"epochs": 1}})  # fmt: skip
    with pytest.raises(UsageError, match="needs sensitive attributes"):  # known once the data is loaded
        run(recipe, console=None)
    assert list(Path("runs/fair").iterdir()) == []


def test_validate_rejects_an_ood_recipe_without_held_out_classes(tiny_recipe: Path) -> None:
    from toolkit.errors import RecipeError

    with pytest.raises(RecipeError, match=r"dataset\.holdout: the ood task needs OOD data: held-out classes"):
        load_recipe(tiny_recipe, ["dataset.holdout=[]"])


def test_quickstart_recipe_runs_small() -> None:
    root = Path(__file__).resolve().parents[1]
    recipe = load_recipe(root / "recipes" / "quickstart.toml", ["train.epochs=2"])
    result = run(recipe, console=None)
    assert result.metrics["n_out"] > 0 and result.metrics["holdout"] == ["9"]


def test_console_output_has_progress_log_and_cache_notice(tiny_recipe: Path) -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    run(load_recipe(tiny_recipe), console=console)
    run(load_recipe(tiny_recipe), console=console)
    text = console.export_text()
    assert "training 3 epochs" in text and "reusing cached model" in text


def test_parse_recipe_and_run_in_python() -> None:
    recipe = parse_recipe(
        {
            "task": "ood",
            "name": "py",
            "dataset": {"name": "synthetic", "holdout": [3]},
            "model": {"name": "mlp", "hidden": [8]},
            "train": {"epochs": 1},
            "detectors": [{"name": "energy"}],
        }
    )
    result = run(recipe, console=None, out_dir="elsewhere")
    assert result.path.parent == Path("elsewhere/py")


def test_serial_executor_runs_jobs_and_reports_failures_without_stopping(tiny_recipe: Path) -> None:
    from toolkit.execution.executor import Job, SerialExecutor

    jobs = [
        Job(str(tiny_recipe), ("train.epochs=1",)),
        Job(str(tiny_recipe), ("train.epochs=-1",)),  # invalid: reported, the others go on
        Job(str(tiny_recipe), ("train.epochs=1", "detectors.1.name=max_logit")),
    ]
    results = list(SerialExecutor().map(jobs))
    assert [r.job for r in results] == jobs
    assert results[0].path is not None and (results[0].path / "metrics.json").is_file()
    assert results[1].path is None and results[1].error and "train.epochs" in results[1].error
    assert results[2].metrics["detectors"].keys() == {"msp", "max_logit"}
    # the third run reuses the model the first trained: same train stage, other detector
    meta = json.loads((results[2].path / "meta.json").read_text())
    assert meta["model_cached"] is True


def test_an_unwritable_cache_is_a_warning_and_the_run_finishes(tiny_recipe: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = run(load_recipe(tiny_recipe), cache_dir=blocked / "cache", console=None)
    log = (result.path / "log.txt").read_text()
    assert "cannot be written" in log and "without storing" in log
    assert result.metrics["detectors"]["msp"]["auroc"] > 0.5
    assert blocked.read_text() == "not a folder"


def test_training_that_diverges_stops_and_caches_nothing(tiny_recipe: Path, tmp_path: Path) -> None:
    from toolkit.execution.cache import ArtifactCache

    cache = tmp_path / "cache"
    with pytest.raises(RunError, match=r"run 'tiny' failed: training diverged: the loss is nan in epoch 1"):
        run(load_recipe(tiny_recipe, ["train.lr=1e30"]), cache_dir=cache, console=None)
    assert ArtifactCache(cache).entries() == []


def test_an_unwritable_out_folder_is_a_usage_error(tiny_recipe: Path, tmp_path: Path) -> None:
    from toolkit.errors import UsageError

    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.raises(UsageError, match=r"--out .*a-file: cannot create the run folder there"):
        run(load_recipe(tiny_recipe), out_dir=blocked, console=None)


def test_a_tampered_cache_entry_is_recomputed_with_a_warning(tiny_recipe: Path, tmp_path: Path) -> None:
    import json as _json

    from safetensors.torch import load_file, save_file

    from toolkit.execution.cache import ArtifactCache, read_metadata

    cache = ArtifactCache(tmp_path / "cache")
    first = run(load_recipe(tiny_recipe), cache_dir=cache.root, console=None)
    (entry,) = cache.entries()
    tensors = {k: torch.zeros_like(v) for k, v in load_file(str(entry.path)).items()}
    save_file(tensors, str(entry.path), metadata={"toolkit": _json.dumps(read_metadata(entry.path))})
    again = run(load_recipe(tiny_recipe), cache_dir=cache.root, console=None)
    log = (again.path / "log.txt").read_text()
    assert "is not usable (its tensors do not match their checksum)" in log
    assert again.meta["model_cached"] is False and again.metrics == first.metrics
    assert [problem for _, problem in cache.verify()] == [None]  # replaced by a good entry


def test_changed_data_files_never_reuse_a_model_trained_on_the_old_ones(tmp_path: Path) -> None:
    """The train fingerprint covers the data read, not only the recipe's words."""
    from PIL import Image
    from test_vision_data import write_folder

    root = tmp_path / "pets"
    write_folder(root)
    recipe_text = f"""
task = "ood"
name = "pets"
[dataset]
name = "image_folder"
root = "{root.as_posix()}"
size = 8
holdout = ["fox"]
test_size = 0.4
[model]
name = "mlp"
hidden = [8]
[train]
epochs = 1
[[detectors]]
name = "msp"
"""
    path = tmp_path / "pets.toml"
    path.write_text(recipe_text)
    first = run(load_recipe(path), console=None)
    again = run(load_recipe(path), console=None)
    assert again.meta["model_cached"] is True
    assert again.meta["data_sha256"] == first.meta["data_sha256"]
    image = root / "cat" / "1.png"
    Image.new("RGB", (24, 24), (0, 0, 255)).save(image)  # one image edited, same recipe
    edited = run(load_recipe(path), console=None)
    assert edited.meta["fingerprints"] == first.meta["fingerprints"]  # the recipe is unchanged
    assert edited.meta["data_sha256"] != first.meta["data_sha256"]
    assert edited.meta["model_cached"] is False
    image.unlink()  # a file fewer
    fewer = run(load_recipe(path), console=None)
    assert fewer.meta["model_cached"] is False
    assert len({first.meta["data_sha256"], edited.meta["data_sha256"], fewer.meta["data_sha256"]}) == 3


def test_a_killed_runs_partial_folder_is_removed_by_the_next_run(tiny_recipe: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    parent = Path("runs/tiny")
    parent.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    owners = {
        "dead": {"host": socket.gethostname(), "pid": int(gone.stdout)},  # its process has ended
        "alive": {"host": socket.gethostname(), "pid": os.getppid()},  # a run still going
        "elsewhere": {"host": "another-host", "pid": int(gone.stdout)},  # cannot tell: kept
    }
    for name, owner in owners.items():
        folder = parent / f".partial-{name}"
        folder.mkdir()
        (folder / ".owner").write_text(json.dumps(owner))
    (parent / ".partial-unowned").mkdir()  # written by an older version: kept
    result = run(load_recipe(tiny_recipe), console=None)
    left = sorted(p.name for p in parent.iterdir())
    assert left == sorted([".partial-alive", ".partial-elsewhere", ".partial-unowned", result.path.name])
    assert not (result.path / ".owner").exists()
