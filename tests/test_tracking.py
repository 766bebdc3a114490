"""Experiment tracking: a finished run logged to MLflow and read back through MLflow's own client.

One quickstart run (2 epochs) is tracked once per module through ``toolkit run --track mlflow``
into a SQLite store; the tests read it back. Making a store runs MLflow's schema migrations
(seconds), so a migrated empty store is made once and copied wherever a test needs a fresh one.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, TINY_RECIPE, cli_in_process, needs, subprocess_env

from toolkit.errors import RunError, UsageError
from toolkit.tracking import INSTALL, MAX_PARAM_VALUE, log_run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

mlflow = needs("mlflow")
# MLflow's own store code uses an SQLAlchemy loader that SQLAlchemy deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")

QUICKSTART = ROOT / "recipes" / "quickstart.toml"


@dataclass
class Tracked:
    """The module's tracked run: its store, run folder and what the command printed."""

    tmp: Path
    template: Path
    uri: str
    folder: Path
    code: int
    output: str

    def client(self, uri: str | None = None) -> Any:
        return mlflow.MlflowClient(tracking_uri=uri or self.uri)

    def run(self, experiment: str = "quickstart", uri: str | None = None) -> Any:
        client = self.client(uri)
        found = client.get_experiment_by_name(experiment)
        assert found is not None, f"no experiment {experiment!r}"
        (run,) = client.search_runs([found.experiment_id])
        return run

    def fresh_store(self, path: Path) -> str:
        """A new, empty, migrated SQLite store at ``path``; returns its URI."""
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.template, path)
        return f"sqlite:///{path.as_posix()}"


def _main(args: list[str]) -> tuple[int, str]:
    """``toolkit ARGS`` in this process without pytest's per-test capture: status and output."""
    from toolkit.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook, buffer, code = sys.unraisablehook, io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        sys.unraisablehook = hook
    return code, buffer.getvalue()


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracked]:
    tmp = tmp_path_factory.mktemp("tracking")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOOLKIT_CACHE", str(tmp / "cache"))
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(tmp)
        template = tmp / "template" / "empty.db"
        template.parent.mkdir()
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{template.as_posix()}").search_experiments()
        tracked = Tracked(tmp, template, "", tmp, 0, "")
        tracked.uri = tracked.fresh_store(tmp / "store" / "mlflow.db")
        args = ["run", str(QUICKSTART), "--set", "train.epochs=2", "--out", str(tmp / "runs")]
        tracked.code, tracked.output = _main([*args, "--track", "mlflow", "--track-uri", tracked.uri])
        (tracked.folder,) = (tmp / "runs" / "quickstart").iterdir()
        yield tracked


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def _numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """The finite numbers of nested JSON by dotted path (list items by position)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, dict | list):
            yield from _numbers(item, f"{path}{key}.")
        elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
            yield f"{path}{key}", item


def test_the_run_is_logged_in_the_experiment_named_after_the_recipe(tracked: Tracked) -> None:
    assert tracked.code == 0, tracked.output
    run = tracked.run("quickstart")
    meta = _json(tracked.folder / "meta.json")
    assert run.info.status == "FINISHED"
    assert run.info.run_name == tracked.folder.name
    assert f"mlflow run {run.info.run_id}" in tracked.output
    assert f"mlflow ui --backend-store-uri {tracked.uri}" in tracked.output
    tags = run.data.tags
    assert tags["task"] == "ood" and tags["recipe"] == "quickstart"
    assert tags["fingerprint"] == meta["fingerprints"]["run"]
    assert tags["toolkit_version"] == meta["versions"]["toolkit"]
    assert tags["run_folder"] == str(tracked.folder.resolve())


def test_params_are_the_flattened_resolved_recipe(tracked: Tracked) -> None:
    params = tracked.run().data.params
    assert params["train.epochs"] == "2"  # the --set override, as resolved
    assert params["train.optimizer"] == "adam"
    assert params["detectors.1.name"] == "energy"
    assert params["dataset.holdout"] == '["9"]'
    recipe = tomllib.loads((tracked.folder / "recipe.toml").read_text())
    for table in ("dataset", "model", "train", "evaluate", "runtime"):
        assert {f"{table}.{key}" for key in recipe[table]} <= set(params), table


def test_metrics_equal_metrics_json(tracked: Tracked) -> None:
    logged = tracked.run().data.metrics
    metrics = _json(tracked.folder / "metrics.json")
    assert logged["accuracy"] == metrics["accuracy"]
    assert logged["detectors.msp.auroc"] == metrics["detectors"]["msp"]["auroc"]
    assert logged["detectors.energy.fpr_at_tpr"] == metrics["detectors"]["energy"]["fpr_at_tpr"]
    assert logged["n_out"] == 54  # the held-out 9s of the 30% test split
    leaves = dict(_numbers(metrics))
    assert len(leaves) >= 15
    assert {k: logged[k] for k in leaves} == leaves
    timings = _json(tracked.folder / "meta.json")["timings"]
    assert logged["timings.train"] == timings["train"]


def test_history_has_one_step_per_epoch(tracked: Tracked) -> None:
    client, run_id = tracked.client(), tracked.run().info.run_id
    history = _json(tracked.folder / "history.json")
    for name, key in [("train.loss", "train_loss"), ("test.accuracy", "test_accuracy"), ("train.lr", "lr")]:
        steps = sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
        assert [m.step for m in steps] == [1, 2], name
        assert [m.value for m in steps] == [h[key] for h in history], name


def test_artifacts_are_the_run_folder_stored_beside_the_database(tracked: Tracked) -> None:
    run = tracked.run()
    names = {a.path for a in tracked.client().list_artifacts(run.info.run_id)}
    assert {"metrics.json", "report.html", "recipe.toml", "meta.json", "history.json", "figures"} <= names
    location = tracked.tmp / "store" / "mlartifacts"
    assert run.info.artifact_uri.startswith(location.as_uri())
    stored = location / run.info.run_id / "artifacts"
    for name in ("metrics.json", "report.html", "figures/roc.png"):
        assert (stored / name).read_bytes() == (tracked.folder / name).read_bytes(), name


def test_repeated_calls_go_to_the_store_each_names(
    tracked: Tracked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tracked.fresh_store(tmp_path / "other" / "other.db")
    first = log_run(tracked.folder, uri=other, experiment="points", tags={"point": "a"})
    second = log_run(tracked.folder, uri=other, experiment="points", tags={"point": "b"})
    client = tracked.client(other)
    found = client.get_experiment_by_name("points")
    runs = {r.info.run_id: r for r in client.search_runs([found.experiment_id])}
    assert set(runs) == {first, second}
    assert runs[second].data.tags["point"] == "b" and runs[second].data.metrics["accuracy"] > 0.5
    assert tracked.client().get_experiment_by_name("points") is None  # the module's store is untouched
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)  # no uri: the environment's store
    third = log_run(tracked.folder, experiment="points")
    assert client.get_run(third).info.experiment_id == found.experiment_id


def test_default_store_is_sqlite_in_the_current_folder(tracked: Tracked, tmp_path: Path) -> None:
    tracked.fresh_store(tmp_path / "mlruns.db")  # conftest runs each test in its tmp_path
    run_id = log_run(tracked.folder)
    run = tracked.client(f"sqlite:///{(tmp_path / 'mlruns.db').as_posix()}").get_run(run_id)
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())
    assert (tmp_path / "mlartifacts" / run_id / "artifacts" / "metrics.json").is_file()


def test_odd_names_and_long_values_fit_mlflow(tracked: Tracked, tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "odd" / "20260101-000000-abcdef12"
    shutil.copytree(tracked.folder, folder)
    metrics = {"fpr@95%": 0.1, "a/b": {"c d": 2}, "..x": 3, "missing": None, "sanity": True,
               "confusion": [[5, 1], [2, 7]], "k" * 300: 1.5, "label": "nine"}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    recipe = (folder / "recipe.toml").read_text()
    (folder / "recipe.toml").write_text(recipe.replace('description = "', f'description = "{"x" * 7000}'))
    run = tracked.client().get_run(log_run(folder, uri=tracked.uri, experiment="odd"))
    logged = run.data.metrics
    assert logged["fpr_95_"] == 0.1 and logged["a_b.c_d"] == 2 and logged["x"] == 3
    assert logged["sanity"] == 1.0 and logged["confusion.1.0"] == 2 and logged["k" * 250] == 1.5
    assert "missing" not in logged and "label" not in logged
    description = run.data.params["description"]
    assert len(description) == MAX_PARAM_VALUE and description.endswith("...")


def test_a_tracking_failure_keeps_the_run_and_exits_1(
    tracked: Tracked, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = tracked.fresh_store(tmp_path / "store" / "mlflow.db")
    (tmp_path / "afile").write_text("a file, so no artifact folder can be made under it")
    tracked.client(uri).create_experiment("blocked", artifact_location=(tmp_path / "afile" / "x").as_uri())
    (tmp_path / "tiny.toml").write_text(TINY_RECIPE)
    args = ["run", "tiny.toml", "--out", "out", "--threads", "1", "--track", "mlflow", "--track-uri", uri]
    code, output = cli_in_process([*args, "--track-experiment", "blocked"], capsys)
    (folder,) = (tmp_path / "out" / "tiny").iterdir()
    assert code == 1, output
    assert "warning" in output and "Not a directory" in output and "Traceback" not in output
    assert f"The run folder {folder.relative_to(tmp_path)} is complete and kept" in " ".join(output.split())
    assert (folder / "metrics.json").is_file() and (folder / "report.html").is_file()
    (failed,) = tracked.client(uri).search_runs(
        [tracked.client(uri).get_experiment_by_name("blocked").experiment_id]
    )
    assert failed.info.status == "FAILED"
    code, output = cli_in_process(["track", str(folder), "--uri", uri], capsys)  # what the warning says
    assert code == 0, output
    assert tracked.run("tiny", uri).data.metrics["n_in"] > 0


def test_a_deleted_experiment_is_a_usage_error(tracked: Tracked, tmp_path: Path) -> None:
    uri = tracked.fresh_store(tmp_path / "mlflow.db")
    client = tracked.client(uri)
    client.delete_experiment(client.create_experiment("quickstart"))
    with pytest.raises(UsageError, match="was deleted; restore it"):
        log_run(tracked.folder, uri=uri)


def test_bad_folders_trackers_and_stores(tracked: Tracked, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not a finished run folder \(no metrics.json\)"):
        log_run(tmp_path, uri=tracked.uri)
    partial = tmp_path / ".partial-20260101-000000-abcdef12"
    shutil.copytree(tracked.folder, partial)
    with pytest.raises(UsageError, match="has not finished"):
        log_run(partial, uri=tracked.uri)
    with pytest.raises(UsageError, match="unknown tracker 'wandb'; known trackers: mlflow"):
        log_run(tracked.folder, tracker="wandb")
    with pytest.raises(UsageError, match="MLflow cannot use this store"):
        log_run(tracked.folder, uri=(tmp_path / "plain-folder").as_uri())  # MLflow 3 refuses file stores
    uri = tracked.fresh_store(tmp_path / "store.db")
    (tmp_path / "afile").write_text("")
    tracked.client(uri).create_experiment("x", artifact_location=(tmp_path / "afile" / "x").as_uri())
    with pytest.raises(RunError, match="failed: NotADirectoryError"):
        log_run(tracked.folder, uri=uri, experiment="x")


def test_without_mlflow_the_error_says_what_to_install(
    tracked: Tracked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now fails, as when it is missing
    with pytest.raises(UsageError, match=r"not installed: pip install 'trustworthy-ml-toolkit\[tracking\]'"):
        log_run(tracked.folder, uri=tracked.uri)
    assert "trustworthy-ml-toolkit[tracking]" in INSTALL


def test_importing_tracking_imports_neither_torch_nor_mlflow() -> None:
    code = "import sys, toolkit.tracking; print('torch' in sys.modules, 'mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
    assert out.stdout.split() == ["False", "False"], out.stderr
