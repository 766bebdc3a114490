"""Run a sweep: every point of a plan through an executor, into one sweep folder.

``runs/<name>/sweep-<timestamp>/`` holds ``sweep.json`` (the recipe's path, the overrides
every point shares, the plan), ``recipe.toml`` (the recipe's text, for the report),
``points/<point>/`` (each a normal run folder, written atomically
like any run: complete or absent) and, once the points are run, the summary
(:mod:`toolkit.sweep.summary`). ``resume`` reuses the newest sweep folder of the recipe and
runs only the points whose run folder is missing; a point that failed is run again. It
refuses a sweep that is not the recorded one (other overrides, axes or seeds, or a recipe
whose points now resolve to other runs): a finished point is never counted as a run it is
not (:func:`check_resume`).
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import RecipeError, UsageError
from toolkit.execution.executor import Executor, Job, JobResult
from toolkit.sweep.plan import Point, SweepPlan

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class SweepResult:
    """A finished sweep: its folder, the points run now, skipped (done before) and failed."""

    path: Path
    ran: list[JobResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    #: When the sweep (this resumption of it) started, as ISO 8601 text.
    started: str = ""


def check_points(recipe: str | Path, base: Sequence[str], plan: SweepPlan) -> dict[str, str]:
    """Validate every point's recipe before anything runs; a usage error lists the bad ones,
    and the points that repeat another (the same recipe once resolved, or the same name:
    ``--grid train.lr=0.1,0.1`` or ``0.1,"0.1"``), which would run once and count twice.

    Returns:
        Each point's run fingerprint, by point id (recorded in ``sweep.json``).
    """
    from toolkit.recipe import load_recipe

    problems: list[str] = []
    seen: dict[str, str] = {}  # the run fingerprint (seed included) of each valid point
    for point in plan.points:
        try:
            resolved = load_recipe(recipe, [*base, *point.overrides()])
        except RecipeError as exc:
            problems.append(f"point {point.id}: {exc}")
            continue
        key = resolved.fingerprints()["run"]
        if key in seen:
            problems.append(
                f"point {point.id} is point {seen[key]} again (the same recipe once its values "
                "are read): give each value once"
            )
        seen.setdefault(key, point.id)
    ids = [p.id for p in plan.points]
    for pid in sorted({i for i in ids if ids.count(i) > 1}):
        if not any(f"point {pid} " in line for line in problems):
            problems.append(f"two points are both named {pid}: give each value once")
    if problems:
        more = f"\n... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise UsageError("the sweep has invalid points:\n" + "\n".join(problems[:5]) + more)
    return {pid: key for key, pid in seen.items()}


#: What must be as recorded for ``--resume`` to continue a sweep (``sweep.json`` keys).
RESUMED = ("overrides", "grid", "zip", "seeds", "base_seed")


def check_resume(path: Path, base: Sequence[str], plan: SweepPlan, fingerprints: Mapping[str, str]) -> None:
    """Refuse to resume the sweep in ``path`` with another plan: the ``--set`` overrides, the
    axes and the seeds must be the recorded ones, every point must resolve to the run it was
    (the recipe file may have changed), and each finished point's run folder must be that run.

    Raises:
        UsageError: saying what differs, recorded against now.
    """
    from toolkit.execution.runread import read_json, read_meta

    record = read_json(path / "sweep.json", table=True, advice="start a new sweep without --resume")
    now = {"overrides": list(base), **plan.to_json()}
    now = json.loads(json.dumps({k: now[k] for k in RESUMED}, default=str))  # as sweep.json holds it
    differ = [
        f"{key}: recorded {json.dumps(record.get(key))}, now {json.dumps(now[key])}"
        for key in RESUMED
        if record.get(key) != now[key]
    ]
    recorded = record.get("points") if isinstance(record.get("points"), list) else []
    before = {str(p.get("id")): p.get("fingerprint") for p in recorded if isinstance(p, dict)}
    if not differ:
        changed = [pid for pid, key in fingerprints.items() if before.get(pid) not in (None, key)]
        for pid in fingerprints:
            run = path / "points" / pid
            if pid not in changed and (run / "metrics.json").is_file():  # a finished point: is it this run?
                ran = read_meta(run).get("fingerprints")
                if not isinstance(ran, dict) or ran.get("run") != fingerprints[pid]:
                    changed.append(pid)
        if changed:
            differ.append(
                f"the recipe: point {', '.join(sorted(changed)[:3])}"
                + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
                + " would now be another run than the one recorded (the recipe file changed?)"
            )
    if differ:
        raise UsageError(
            f"--resume: the sweep in {path} was started with other settings, so its finished points "
            "are not runs of this sweep:\n  " + "\n  ".join(differ) + "\ngive the recorded settings "
            "to resume it, or run without --resume to start a new sweep"
        )


def sweep_folder(out_dir: str | Path, name: str, *, resume: bool, started: _dt.datetime) -> Path:
    """The newest sweep folder of recipe ``name`` when resuming (a usage error if none), else
    a new one."""
    parent = Path(out_dir) / name
    if resume:
        found = sorted(p for p in parent.glob("sweep-*") if (p / "sweep.json").is_file())
        if not found:
            raise UsageError(
                f"--resume: no sweep of '{name}' under {parent} to resume; run it without --resume"
            )
        return found[-1]
    path, n = parent / f"sweep-{started:%Y%m%d-%H%M%S}", 1
    while path.exists():
        n += 1
        path = parent / f"sweep-{started:%Y%m%d-%H%M%S}-{n}"
    try:
        (path / "points").mkdir(parents=True)
    except OSError as exc:
        raise UsageError(
            f"--out {out_dir}: cannot create the sweep folder there ({exc.strerror or exc})"
        ) from exc
    return path


def write_plan(
    path: Path,
    recipe: str | Path,
    base: Sequence[str],
    plan: SweepPlan,
    fingerprints: Mapping[str, str] | None = None,
    **extra: Any,
) -> None:
    """``sweep.json``: what the sweep runs, each point with its run fingerprint (written
    through a temporary file renamed onto the name)."""
    from toolkit.report import replace_file

    record = {"recipe": str(Path(recipe).resolve()), "overrides": list(base), **plan.to_json(), **extra}
    if not (path / "recipe.toml").exists():  # the sweep's own copy, shown in its report
        replace_file(path / "recipe.toml", Path(recipe).read_bytes())
    for point in record["points"]:
        if fingerprints and point["id"] in fingerprints:
            point["fingerprint"] = fingerprints[point["id"]]
    replace_file(path / "sweep.json", json.dumps(record, indent=2, default=str) + "\n")


def run_sweep(
    recipe: str | Path,
    plan: SweepPlan,
    *,
    name: str,
    executor: Executor,
    base: Sequence[str] = (),
    out_dir: str | Path = "runs",
    resume: bool = False,
    use_cache: bool = True,
    console: Console | None = None,
    on_result: Callable[[Point, JobResult], None] | None = None,
    describe: dict[str, Any] | None = None,
    fingerprints: Mapping[str, str] | None = None,
) -> SweepResult:
    """Run the points of ``plan`` that are not done yet; returns what happened.

    Args:
        recipe: the recipe file.
        plan: the points (:meth:`SweepPlan.make`).
        name: the recipe's name (the sweep folder goes under ``out_dir/name/``).
        executor: runs the jobs (:func:`toolkit.execution.executor.make_executor`).
        base: ``--set`` overrides every point shares.
        resume: continue the newest sweep folder of this recipe.
        on_result: called with each finished point (tracking, say).
        describe: more to record in ``sweep.json`` (the executor, say).
        fingerprints: each point's run fingerprint (:func:`check_points`); computed here
            when not given.

    Raises:
        UsageError: ``resume`` with no sweep to resume, or with another plan (:func:`check_resume`).
    """
    started = _dt.datetime.now()
    t0 = time.perf_counter()
    if fingerprints is None:
        fingerprints = check_points(recipe, base, plan)
    path = sweep_folder(out_dir, name, resume=resume, started=started)
    if resume:
        check_resume(path, base, plan, fingerprints)
    write_plan(path, recipe, base, plan, fingerprints, started=started.isoformat(timespec="seconds"),
               **(describe or {}))  # fmt: skip
    points = path / "points"
    points.mkdir(exist_ok=True)
    todo, result = [], SweepResult(path, started=started.isoformat(timespec="seconds"))
    for point in plan.points:
        if (points / point.id / "metrics.json").is_file():
            result.skipped.append(point.id)
        else:
            todo.append(point)
    jobs = {
        Job(str(recipe), (*base, *point.overrides()), str(points), use_cache, str(points / point.id)): point
        for point in todo
    }
    _progress(console, jobs, executor, result, len(plan.points), on_result)
    result.seconds = time.perf_counter() - t0
    return result


def _progress(
    console: Console | None,
    jobs: dict[Job, Point],
    executor: Executor,
    result: SweepResult,
    total: int,
    on_result: Callable[[Point, JobResult], None] | None,
) -> None:
    """Run the jobs with one progress bar for the sweep and a line per finished point."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=console is None, transient=True) as bar:
        task = bar.add_task("sweep", total=total, completed=len(result.skipped))
        if result.skipped and console is not None:
            console.print(f"resuming: {len(result.skipped)} of {total} points are done and skipped")
        by_folder = {job.run_dir: point for job, point in jobs.items()}
        for done in executor.map(list(jobs)):
            point = by_folder[done.job.run_dir]  # the executor may hand back a copy (threads set)
            result.ran.append(done)
            if done.error is not None:
                result.failed[point.id] = done.error
                if console is not None:
                    console.print(Text.assemble(("failed", "red"), f" {point.id} ({done.seconds:.1f} s)"))
            else:
                if console is not None:
                    console.print(Text.assemble(("done", "green"), f"   {point.id} ({done.seconds:.1f} s)"))
                if on_result is not None:
                    on_result(point, done)
            bar.advance(task)
