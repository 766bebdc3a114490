"""``toolkit sweep``: a study of one recipe over a grid of overrides and seeds.

Registered on the ``toolkit`` command by :mod:`toolkit.cli`; it imports torch only once it
runs something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from toolkit.cli.base import NoCacheOption, OutOption, SetOption, get_console, print_tables
from toolkit.errors import RunError, UsageError

_Grid = typer.Option("--grid", "-g", help="A swept key: key=v1,v2 (each value TOML); several make a product.")
_Zip = typer.Option("--zip", help="Keys whose values go together: key=v1,v2 with as many values each.")
_Metric = typer.Option(
    "--metric", "-m", help="A summary column: a metric name or pattern (detectors.*.auroc)."
)
_Resume = typer.Option(
    "--resume", help="Continue the newest sweep of this recipe: run only unfinished points."
)
_Executor = typer.Option(help="local (a process pool), ray, or serial (this process).")
_Threads = typer.Option(help="torch threads per run (default: the cores divided by --jobs).")
_Gpus = typer.Option(help="GPUs per run (Ray only; a fraction shares one GPU between runs).")


def sweep(
    recipe: Annotated[Path, typer.Argument(help="The recipe file (TOML); its [sweep] table is the plan.")],
    grid: Annotated[list[str] | None, _Grid] = None,
    zip_: Annotated[list[str] | None, _Zip] = None,
    seeds: Annotated[int | None, typer.Option(min=1, help="Runs per point (seed, seed + 1, ...).")] = None,
    executor: Annotated[str, _Executor] = "local",
    jobs: Annotated[int, typer.Option(min=1, help="Runs at once.")] = 1,
    threads: Annotated[int | None, _Threads] = None,
    gpus: Annotated[float, _Gpus] = 0,
    overrides: SetOption = None,
    metric: Annotated[list[str] | None, _Metric] = None,
    out: Annotated[Path, OutOption] = Path("runs"),
    resume: Annotated[bool, _Resume] = False,
    no_cache: Annotated[bool, NoCacheOption] = False,
    track: Annotated[str | None, typer.Option(help="Log every finished point to a tracker: mlflow.")] = None,
    track_uri: Annotated[str | None, typer.Option(help="The tracker's URI (mlflow: a tracking URI).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the sweep folder.")] = False,
) -> None:
    """Run a recipe over a grid of overrides and seeds; write a summary, figures and a report."""
    from toolkit.execution.executor import make_executor
    from toolkit.recipe import load_recipe
    from toolkit.sweep.run import check_points, run_sweep, write_plan

    base = list(overrides or [])
    resolved = load_recipe(recipe, base)
    source = resolved.source or str(recipe)
    plan = _plan(resolved, grid or [], zip_ or [], seeds, metric or [])
    if len(plan.points) == 1 and not plan.keys:
        raise UsageError(f"{recipe}: nothing to sweep; give --grid, --zip or --seeds, or a [sweep] table")
    fingerprints = check_points(source, base, plan)
    run_executor = make_executor(executor, jobs=jobs, threads=threads, gpus=gpus)
    console = None if quiet else get_console()
    on_result = _tracker(track, track_uri, resolved.name, console)
    if console is not None:
        what = f"{len(plan.points)} runs, executor {executor}, {jobs} at once"
        console.print(Text.assemble("sweep ", (resolved.name, "bold"), f": {what}"))
    result = run_sweep(
        source,
        plan,
        name=resolved.name,
        executor=run_executor,
        base=base,
        out_dir=out,
        resume=resume,
        use_cache=not no_cache,
        console=console,
        on_result=on_result,
        describe={"name": resolved.name, "executor": executor, "jobs": jobs},
        fingerprints=fingerprints,
    )
    write_plan(result.path, source, base, plan, fingerprints, name=resolved.name, executor=executor,
               jobs=jobs, started=result.started, failed=result.failed,
               seconds=round(result.seconds, 2))  # fmt: skip
    _finish(result, console)


def _plan(resolved: Any, grid: list[str], zipped: list[str], seeds: int | None, metrics: list[str]) -> Any:
    """The recipe's ``[sweep]`` table with the command line's axes added (they win)."""
    from toolkit.sweep.plan import SweepPlan, parse_axes

    config = resolved.recipe.sweep
    return SweepPlan.make(
        grid={**(config.grid if config else {}), **parse_axes(grid, "--grid")},
        zip={**(config.zip if config else {}), **parse_axes(zipped, "--zip")},
        seeds=seeds or (config.seeds if config else 1),
        base_seed=resolved.seed,
        metrics=metrics or (config.metrics if config else []),
    )


def _tracker(track: str | None, uri: str | None, name: str, console: Any) -> Any:
    """Log each finished point to the tracker (``None``: no tracking); the tracker and its
    URI are checked here, before the first point runs."""
    if track is None and uri is None:
        return None
    from toolkit.tracking import check_tracking, log_run

    track, uri = check_tracking(track, uri)

    def log(point: Any, done: Any) -> None:
        try:
            log_run(done.path, tracker=track, uri=uri, experiment=name, tags={"point": point.id})
        except Exception as exc:  # the run is kept; the sweep goes on
            if console is not None:
                console.print(f"warning: could not log {point.id} to {track}: {exc}", style="yellow")

    return log


def _finish(result: Any, console: Any) -> None:
    """Write the summary, print it and the failures; exit 1 when a point failed."""
    from toolkit.sweep import summary

    found = summary.read(result.path)
    summary.write(result.path, found)
    if console is None:
        typer.echo(str(result.path))
    else:
        print_tables(console, [summary.table(found)])
        if found.note:
            console.print(f"warning: {found.note}", style="yellow")
        done = (
            f"{len(result.ran)} runs in {result.seconds:.1f} s, {len(result.skipped)} skipped (done before); "
        )
        report = f"  (report: {result.path / 'report.html'})"
        console.print(Text.assemble(done, "sweep folder: ", (str(result.path), "bold"), report))
    if result.failed:
        listing = "\n".join(f"  {pid}: {error}" for pid, error in result.failed.items())
        raise RunError(
            f"{len(result.failed)} of {len(result.ran) + len(result.skipped)} points failed "
            f"(the others are kept; --resume runs the failed ones again):\n{listing}"
        )
