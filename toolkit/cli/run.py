"""``toolkit run``, ``toolkit validate`` and ``toolkit track``: run or check a recipe, and log
finished run folders to an experiment tracker (what ``run --track`` does after a run).

``validate`` imports the components a recipe names (to check them), so it imports torch;
nothing here imports it before a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from toolkit.cli.base import (
    DeviceOption,
    NoCacheOption,
    OutOption,
    QuietOption,
    SetOption,
    ThreadsOption,
    get_console,
    machine_overrides,
    print_tables,
)
from toolkit.errors import UsageError

_TrackUri = typer.Option(
    help="The tracking store (default $MLFLOW_TRACKING_URI, else sqlite:///./mlruns.db)."
)
_Track = typer.Option(help="Log the finished run to an experiment tracker: mlflow.")
_TrackExperiment = typer.Option(help="The tracking experiment (default the recipe's name).")


def run(
    recipe: Annotated[Path, typer.Argument(help="The recipe file (TOML).")],
    overrides: SetOption = None,
    out: Annotated[Path, OutOption] = Path("runs"),
    no_cache: Annotated[bool, NoCacheOption] = False,
    device: Annotated[str | None, DeviceOption] = None,
    threads: Annotated[int | None, ThreadsOption] = None,
    quiet: Annotated[bool, QuietOption] = False,
    track: Annotated[str | None, _Track] = None,
    track_uri: Annotated[str | None, _TrackUri] = None,
    track_experiment: Annotated[str | None, _TrackExperiment] = None,
) -> None:
    """Run a recipe and write its run folder (metrics, figures, report.html)."""
    from toolkit.recipe import load_recipe

    sets = list(overrides or [])
    origins = machine_overrides(sets, device=device, threads=threads)
    resolved = load_recipe(recipe, sets, origins=origins)
    tracking = None  # checked before the work: a bad --track exits with 2 and runs nothing
    if track is not None or track_uri is not None or track_experiment is not None:
        from toolkit.tracking import check_tracking

        tracking = check_tracking(track, track_uri)
    from toolkit.execution.distributed import is_main
    from toolkit.execution.runner import run as run_recipe

    console = None if quiet or not is_main() else get_console()  # under torchrun, rank 0 speaks
    result = run_recipe(resolved, out_dir=out, use_cache=not no_cache, console=console)
    if console is not None:
        print_tables(console, result.tables)
        report = f"  (report: {result.path / 'report.html'})"
        console.print(Text.assemble("run folder: ", (str(result.path), "bold"), report))
    elif is_main():
        typer.echo(str(result.path))
    if tracking is not None and is_main():
        _track([result.path], *tracking, experiment=track_experiment, after_run=True)


def validate(
    recipe: Annotated[Path, typer.Argument(help="The recipe file (TOML).")],
    overrides: SetOption = None,
) -> None:
    """Check a recipe, component parameters included, without running it."""
    from toolkit.execution.layercheck import check_layers
    from toolkit.recipe import load_recipe

    resolved = load_recipe(recipe, list(overrides or []))
    layers = check_layers(resolved)
    parts = [f"task {resolved.task.name}", f"dataset {resolved.dataset.name}"]
    if resolved.model is not None:
        parts.append(f"model {resolved.model.name}")
    from toolkit.kinds import list_sections

    for section in list_sections():
        if resolved.section(section):
            parts.append(f"{section} {', '.join(c.name for c in resolved.section(section))}")
    typer.echo(f"{recipe}: valid ({'; '.join(parts)}); fingerprint {resolved.fingerprints()['run'][:12]}")
    from toolkit.recipe.checks import warnings_for

    for line in warnings_for(resolved):
        get_console(stderr=True).print(f"warning: {line}", style="yellow", soft_wrap=True)
    if layers:
        typer.echo(f"  {layers}")


def track(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or folders holding run folders.")],
    tracker: Annotated[str, typer.Option(help="The experiment tracker: mlflow.")] = "mlflow",
    uri: Annotated[str | None, _TrackUri] = None,
    experiment: Annotated[
        str | None, typer.Option(help="The tracking experiment (default each recipe's name).")
    ] = None,
) -> None:
    """Log finished run folders to an experiment tracker (what run --track does after a run)."""
    from toolkit.execution.runread import load_run, run_folders

    folders = run_folders(runs)
    for folder in folders:  # every folder is a finished run before anything is logged
        load_run(folder)
    from toolkit.tracking import check_tracking

    _track(folders, *check_tracking(tracker, uri), experiment=experiment)


def _track(
    folders: list[Path], tracker: str, uri: str, *, experiment: str | None, after_run: bool = False
) -> None:
    """Log finished run folders. A failure keeps every folder, says how to log it later and
    exits with 1; after a run, a usage error of the tracker (a deleted experiment) does too."""
    import shlex

    from toolkit.tracking import log_run, ui_hint

    console = get_console(stderr=True)
    for folder in folders:
        try:
            run_id = log_run(folder, tracker=tracker, uri=uri, experiment=experiment)
        except Exception as exc:
            if isinstance(exc, UsageError) and not after_run:
                raise
            again = ["toolkit", "track", str(folder), "--uri", uri]
            again += ["--experiment", experiment] if experiment else []
            rest = (
                f" {exc}\nThe run folder {folder} is complete and kept; log it once the tracking "
                f"store works again: {shlex.join(again)}"
            )
            console.print(Text.assemble(("warning:", "bold yellow"), rest), soft_wrap=True)
            raise typer.Exit(1) from exc
        console.print(f"{tracker} run {run_id} ({folder.name}) in {uri}", soft_wrap=True)
    console.print(f"see the runs: {ui_hint(uri)}", soft_wrap=True)
