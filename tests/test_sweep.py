"""Sweeps: the plan, the executors (serial, a spawn pool, Ray), resume, the summary and reports."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_RECIPE, cli_in_process, needs, subprocess_env

from toolkit.errors import UsageError
from toolkit.sweep.plan import SweepPlan, parse_axes, split_values, toml_value

SWEEP = (
    TINY_RECIPE
    + """
[sweep]
grid = {"train.lr" = [0.1, 0.02]}
metrics = ["accuracy", "detectors.*.auroc"]
"""
)


@pytest.fixture
def sweep_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_sweep.toml"
    path.write_text(SWEEP)
    return path


def only_sweep(out: Path) -> Path:
    (folder,) = (out / "tiny").glob("sweep-*")
    return folder


# ----------------------------------------------------------------------------- the plan


def test_the_grid_is_a_product_and_zipped_keys_go_together() -> None:
    plan = SweepPlan.make(
        grid={"train.lr": [0.1, 0.01], "train.epochs": [1, 2]},
        zip={"dataset.holdout": [["c1"], ["c2"]], "seed": [5, 6]},
    )
    assert len(plan.points) == 2 * 2 * 2
    first = plan.points[0]
    assert first.values == {"train.lr": 0.1, "train.epochs": 1, "dataset.holdout": ["c1"], "seed": 5}
    assert first.id == "lr=0.1-epochs=1-holdout=c1-seed=5"
    paired = {(p.values["dataset.holdout"][0], p.values["seed"]) for p in plan.points}
    assert paired == {("c1", 5), ("c2", 6)}
    assert len({p.id for p in plan.points}) == len(plan.points)


def test_seeds_repeat_each_point_and_share_its_group() -> None:
    plan = SweepPlan.make(grid={"train.lr": [0.1]}, seeds=3, base_seed=7)
    assert [p.seed for p in plan.points] == [7, 8, 9]
    assert {p.group for p in plan.points} == {"lr=0.1"}
    assert plan.points[2].overrides() == ("train.lr=0.1", "seed=9")
    assert [p.id for p in SweepPlan.make(seeds=2).points] == ["seed=0", "seed=1"]


def test_values_are_split_at_top_level_commas_and_read_as_toml() -> None:
    assert split_values("0.1, 1e-3,adam") == [0.1, 0.001, "adam"]
    assert split_values('["frog"],["cat", "dog"],"a,b"') == [["frog"], ["cat", "dog"], "a,b"]
    assert parse_axes(["train.lr=0.1,0.2", "defenses.0.lam=1"], "--grid") == {
        "train.lr": [0.1, 0.2],
        "defenses.0.lam": [1],
    }


def test_toml_values_read_back_as_the_same_value() -> None:
    from toolkit.recipe import parse_value

    for value in (3, 0.25, 1e-12, True, "frog", 'a "quoted" one', ["x", 1], {"a": 1, "b c": [2.5]}):
        assert parse_value(toml_value(value)) == value


@pytest.mark.parametrize(
    ("grid", "zipped", "says"),
    [
        ({"train.lr": [1]}, {"train.lr": [2]}, "either in the grid or zipped"),
        ({}, {"train.lr": [1, 2], "seed": [1]}, "as many values each"),
    ],
)
def test_bad_plans_are_usage_errors(grid: dict, zipped: dict, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        SweepPlan.make(grid=grid, zip=zipped)


def test_long_or_odd_point_names_stay_unique_folder_names() -> None:
    plan = SweepPlan.make(grid={"dataset.holdout": [["a/b"], ["a?b"], ["x" * 200]]})
    ids = [p.id for p in plan.points]
    assert len(set(ids)) == 3
    assert all(len(i) <= 80 and "/" not in i and "?" not in i for i in ids)


# ----------------------------------------------------------------------------- running


def test_a_sweep_writes_every_point_a_summary_figures_and_a_report(
    sweep_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    code, printed = cli_in_process(
        ["sweep", str(sweep_recipe), "--seeds", "2", "--executor", "serial", "--out", str(out)], capsys
    )
    assert code == 0, printed
    folder = only_sweep(out)
    points = sorted(p.name for p in (folder / "points").iterdir())
    assert points == ["lr=0.02-seed=0", "lr=0.02-seed=1", "lr=0.1-seed=0", "lr=0.1-seed=1"]
    rows = list(csv.DictReader((folder / "summary.csv").open()))
    assert [r["point"] for r in rows] == ["lr=0.1", "lr=0.02"]
    assert set(rows[0]) >= {"train.lr", "n", "accuracy", "accuracy.std", "detectors.msp.auroc"}
    # the summary is the mean and sample std of the points' own metrics
    import statistics

    accs = [
        json.loads((folder / "points" / f"lr=0.1-seed={s}" / "metrics.json").read_text())["accuracy"]
        for s in (0, 1)
    ]
    assert float(rows[0]["accuracy"]) == pytest.approx(statistics.fmean(accs))
    assert float(rows[0]["accuracy.std"]) == pytest.approx(statistics.stdev(accs))
    assert rows[0]["n"] == "2"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"] == ["accuracy", "detectors.energy.auroc", "detectors.msp.auroc"]
    assert {p.name for p in (folder / "figures").iterdir()} == {
        "accuracy.png",
        "detectors.msp.auroc.png",
        "detectors.energy.auroc.png",
    }
    html = (folder / "report.html").read_text()
    assert "sweep of 2 points" in html and "data:image/png;base64" in html
    assert "lr=0.1-seed=0" in printed and "sweep folder" in printed
    # each point is a normal run: the first seed's lr=0.1 point equals toolkit run with those overrides
    code, printed = cli_in_process(
        [
            "run",
            str(sweep_recipe),
            "--set",
            "train.lr=0.1",
            "--set",
            "seed=0",
            "--out",
            str(tmp_path / "single"),
        ],
        capsys,
    )
    (single,) = (tmp_path / "single" / "tiny").iterdir()
    assert json.loads((single / "metrics.json").read_text())["accuracy"] == accs[0]


def test_two_keys_make_a_heatmap_and_failures_do_not_stop_the_others(
    sweep_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    args = ["sweep", str(sweep_recipe), "--grid", "train.lr=0.1,1e30", "--grid", "train.epochs=1,2"]
    code, printed = cli_in_process(
        [*args, "--executor", "serial", "--out", str(out), "-m", "accuracy"], capsys
    )
    assert code == 1  # a failed run: exit status 1, after the others finished
    assert "2 of 4 points failed" in printed and "training diverged" in printed
    folder = only_sweep(out)
    assert sorted(p.name for p in (folder / "points").iterdir()) == ["lr=0.1-epochs=1", "lr=0.1-epochs=2"]
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary["failed"]) == {"lr=1e+30-epochs=1", "lr=1e+30-epochs=2"}
    assert [p.name for p in (folder / "figures").iterdir()] == ["accuracy.png"]  # one heatmap
    rows = list(csv.DictReader((folder / "summary.csv").open()))
    assert [(r["n"], r["failed"]) for r in rows] == [("1", "0"), ("1", "0"), ("0", "1"), ("0", "1")]


@pytest.mark.slow  # the pool also runs in the default suite: the Ray test compares against it
def test_the_process_pool_gives_the_serial_executors_numbers(sweep_recipe: Path, tmp_path: Path) -> None:
    from toolkit.execution.executor import LocalExecutor, SerialExecutor
    from toolkit.sweep import summary
    from toolkit.sweep.run import run_sweep

    plan = SweepPlan.make(grid={"train.lr": [0.1, 0.02]}, metrics=["accuracy", "detectors.*.auroc"])
    pooled = run_sweep(
        sweep_recipe, plan, name="tiny", executor=LocalExecutor(jobs=2), out_dir=tmp_path / "a"
    )
    serial = run_sweep(sweep_recipe, plan, name="tiny", executor=SerialExecutor(), out_dir=tmp_path / "b",
                       use_cache=False)  # fmt: skip
    assert not pooled.failed and not serial.failed
    a, b = summary.read(pooled.path), summary.read(serial.path)
    assert [r.mean for r in a.rows] == [r.mean for r in b.rows]
    # the pool's runs set their thread count to the cores divided by the jobs
    meta = json.loads((pooled.path / "points" / "lr=0.1" / "meta.json").read_text())
    assert meta["threads"] == max(1, (os.cpu_count() or 1) // 2)


@pytest.mark.slow  # starts a Ray cluster: about 20 s; nox runs it
def test_the_ray_executor_gives_the_local_executors_numbers(sweep_recipe: Path, tmp_path: Path) -> None:
    needs("ray")
    from toolkit.execution.executor import LocalExecutor
    from toolkit.execution.ray_executor import RayExecutor
    from toolkit.sweep import summary
    from toolkit.sweep.run import run_sweep

    plan = SweepPlan.make(grid={"train.lr": [0.1, 0.02]}, metrics=["accuracy", "detectors.*.auroc"])
    ray_run = run_sweep(sweep_recipe, plan, name="tiny", executor=RayExecutor(jobs=2, threads=1),
                        out_dir=tmp_path / "ray")  # fmt: skip
    local = run_sweep(sweep_recipe, plan, name="tiny", executor=LocalExecutor(jobs=2, threads=1),
                      out_dir=tmp_path / "local", use_cache=False)  # fmt: skip
    assert not ray_run.failed, ray_run.failed
    a, b = summary.read(ray_run.path), summary.read(local.path)
    assert [r.mean for r in a.rows] == [r.mean for r in b.rows]
    # the run folders came back whole from the workers
    point = ray_run.path / "points" / "lr=0.1"
    assert {"metrics.json", "meta.json", "report.html", "recipe.toml", "figures"} <= {
        p.name for p in point.iterdir()
    }
    assert not list((ray_run.path / "points").glob(".*"))


def test_a_killed_sweep_resumes_without_rerunning_finished_points(sweep_recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "toolkit", "sweep", str(sweep_recipe), "--grid", "train.lr=0.1,0.05,0.02",
            "--set", "train.epochs=40", "--executor", "serial", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(args, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # killed outright (no clean-up) while the second point is being written
        while not list(out.glob("tiny/sweep-*/points/.partial-lr=0.05")):
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before its 2nd point"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    folder = only_sweep(out)
    first = folder / "points" / "lr=0.1"
    stamp = (first / "metrics.json").stat().st_mtime_ns
    assert (folder / "points" / ".partial-lr=0.05").is_dir()  # the killed point's leftover
    assert not (folder / "points" / "lr=0.05").exists() and not (folder / "points" / "lr=0.02").exists()
    resumed = subprocess.run(
        [*args, "--resume"], env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 of 3 points are done and skipped" in resumed.stdout
    assert (first / "metrics.json").stat().st_mtime_ns == stamp  # not run again
    # the leftover is gone: the point ran again in its own folder
    assert sorted(p.name for p in (folder / "points").iterdir()) == ["lr=0.02", "lr=0.05", "lr=0.1"]
    rows = list(csv.DictReader((folder / "summary.csv").open()))
    assert [r["n"] for r in rows] == ["1", "1", "1"]


def test_resume_refuses_another_plan_and_rewrites_nothing(
    sweep_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    args = ["sweep", str(sweep_recipe), "--grid", "train.lr=0.1", "--executor", "serial", "--out", str(out)]
    code, printed = cli_in_process(args, capsys)
    assert code == 0, printed
    folder = only_sweep(out)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    recorded = json.loads((folder / "sweep.json").read_text())
    assert len(recorded["points"][0]["fingerprint"]) == 64  # each point's run, for --resume to check
    refused = {
        "--set": [*args, "--resume", "--set", "train.epochs=2"],
        "--grid": [*args[:3], "train.lr=0.1,0.05", *args[4:], "--resume"],
        "--seeds": [*args, "--resume", "--seeds", "2"],
    }
    for option, line in refused.items():
        code, printed = cli_in_process(line, capsys)
        assert code == 2 and "was started with other settings" in printed, (option, printed)
    sweep_recipe.write_text(SWEEP.replace("epochs = 3", "epochs = 2"))  # the recipe file changed
    code, printed = cli_in_process([*args, "--resume"], capsys)
    assert code == 2 and "point lr=0.1 would now be another run" in printed, printed
    # nothing was run, recorded or summarised by the refused resumptions
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    sweep_recipe.write_text(SWEEP)
    code, printed = cli_in_process([*args, "--resume", "-m", "accuracy"], capsys)  # another column is fine
    assert code == 0 and "1 of 1 points are done and skipped" in printed, printed
    assert next(csv.DictReader((folder / "summary.csv").open())).keys() >= {"accuracy", "n"}
    assert (folder / "points" / "lr=0.1" / "metrics.json").read_bytes() == before[
        folder / "points" / "lr=0.1" / "metrics.json"
    ]


def test_the_summary_counts_the_runs_that_exist_whatever_sweep_json_says(tmp_path: Path) -> None:
    from toolkit.sweep import summary

    folder = tmp_path / "sw"
    points = [{"id": pid, "group": "g", "values": {}, "seed": seed} for seed, pid in enumerate("abc")]
    (folder / "points" / "a").mkdir(parents=True)
    (folder / "points" / "a" / "metrics.json").write_text('{"accuracy": 0.5}')
    failed = {"a": "an old failure, run again since", "b": "boom", "z": "not a point"}
    (folder / "sweep.json").write_text(json.dumps({"seeds": 3, "points": points, "failed": failed}))
    found = summary.read(folder)
    (row,) = found.rows
    assert [r["id"] for r in row.runs] == ["a"] and row.failed == ["b", "c"]
    assert found.failed == {"b": "boom"}  # c never ran (a killed sweep): not run, not failed
    summary.write(folder, found)
    assert "1 finished, 1 failed, 1 not run, 3 seed(s) per point" in (folder / "report.html").read_text()
    assert json.loads((folder / "summary.json").read_text())["failed"] == {"b": "boom"}


# ----------------------------------------------------------------------------- reports


def test_report_rerenders_a_run_and_a_sweep_from_their_files(
    sweep_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    code, _ = cli_in_process(["sweep", str(sweep_recipe), "--executor", "serial", "--out", str(out)], capsys)
    assert code == 0
    folder = only_sweep(out)
    for name in ("report.html", "summary.csv"):
        (folder / name).unlink()
    code, printed = cli_in_process(["report", str(folder)], capsys)
    assert code == 0 and (folder / "report.html").is_file() and (folder / "summary.csv").is_file()
    assert "lr=0.1" not in printed or "0.1" in printed
    point = folder / "points" / "lr=0.1"
    before = (point / "report.html").read_text()
    (point / "report.html").unlink()
    code, printed = cli_in_process(["report", str(point)], capsys)
    assert code == 0, printed
    after = (point / "report.html").read_text()
    assert "OOD detection" in after and "OOD detection" in before  # the task's table came back
    assert after.count("data:image/png;base64") == before.count("data:image/png;base64")


def test_compare_picks_metrics_and_draws_them(
    sweep_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    cli_in_process(["sweep", str(sweep_recipe), "--executor", "serial", "--out", str(out)], capsys)
    points = only_sweep(out) / "points"
    figure = tmp_path / "compare.png"
    code, printed = cli_in_process(
        ["compare", str(points), "--metric", "detectors.*.auroc", "--figure", str(figure)], capsys
    )
    assert code == 0, printed
    assert "detectors.msp.auroc" in printed and "detectors.energy.auroc" in printed
    assert "accuracy" not in printed.split("metrics (rows")[1]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_metric_pattern_that_matches_nothing_shows_every_metric(
    sweep_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    args = ["sweep", str(sweep_recipe), "--executor", "serial", "--out", str(out), "--metric", "acuracy"]
    code, printed = cli_in_process(args, capsys)
    assert code == 0
    assert "warning: no metric matches acuracy, so the summary shows every metric" in printed
    header = (only_sweep(out) / "summary.csv").read_text().splitlines()[0]
    assert "accuracy" in header and "detectors.msp.auroc" in header


def test_a_sweep_report_shows_its_own_copy_of_the_recipe_never_a_path_from_sweep_json(tmp_path: Path) -> None:
    from toolkit.sweep import summary

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    folder = tmp_path / "sw"
    (folder / "points" / "a").mkdir(parents=True)
    (folder / "points" / "a" / "metrics.json").write_text('{"accuracy": 0.5}')
    point = {"id": "a", "group": "a", "values": {}, "seed": None}
    (folder / "sweep.json").write_text(json.dumps({"recipe": str(secret), "points": [point]}))
    summary.write(folder, summary.read(folder))
    assert "SECRET-CONTENT" not in (folder / "report.html").read_text()
    (folder / "recipe.toml").write_text('task = "ood"  # the sweep\'s copy\n')
    summary.write(folder, summary.read(folder))
    assert (
        "the sweep&#x27;s copy" in (folder / "report.html").read_text()
        or "the sweep's copy" in (folder / "report.html").read_text()
    )
