"""``toolkit compare`` and ``toolkit report``: several runs' metrics side by side, and a run's
or a sweep's report written again from its stored files (read by
:mod:`toolkit.execution.runread`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit.cli.base import get_console, print_tables
from toolkit.errors import UsageError

_All = typer.Option("--all/--differ", help="Show every metric, or only those that differ.")
_Tolerance = typer.Option(
    min=0.0, help="Numbers within this relative (or, near zero, absolute) distance count as equal."
)
_Metric = typer.Option("--metric", "-m", help="Only these metrics: names or patterns (detectors.*.auroc).")
_Figure = typer.Option(help="Also draw the chosen numeric metrics as grouped bars into this PNG.")


def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or folders holding run folders.")],
    all_rows: Annotated[bool, _All] = True,
    tolerance: Annotated[float, _Tolerance] = 1e-9,
    metric: Annotated[list[str] | None, _Metric] = None,
    figure: Annotated[Path | None, _Figure] = None,
) -> None:
    """Compare the metrics of several runs side by side."""
    from rich.table import Table

    from toolkit.execution.runread import read_metrics, run_folders
    from toolkit.report import flatten, fmt

    columns = [(folder, flatten(read_metrics(folder))) for folder in run_folders(runs)]
    keys: list[str] = []
    for _, flat in columns:
        keys += [k for k in flat if k not in keys]
    if metric:
        from toolkit.sweep.summary import matching

        keys = matching(keys, metric)
        if not keys:
            raise UsageError(f"no metric matches {', '.join(metric)}; try --all without --metric to see them")
    if figure is not None:
        _compare_figure(figure, columns, keys)
    table = Table(title="metrics (rows that differ in bold)", title_justify="left")
    table.add_column("metric", no_wrap=True)
    for folder, _ in columns:
        table.add_column(f"{folder.parent.name}\n{folder.name}", justify="right", no_wrap=True)
    differ = 0
    for key in keys:
        values = [flat.get(key) for _, flat in columns]
        same = _agree(values, tolerance)
        differ += not same
        if same and not all_rows:
            continue
        table.add_row(key, *("—" if v is None else fmt(v) for v in values), style=None if same else "bold")
    console = get_console()
    if table.row_count:
        console.print(table)
    within = f" (within a tolerance of {tolerance:g})" if tolerance else ""
    if not differ:
        console.print(f"all {len(keys)} metrics agree across {len(columns)} runs{within}")
    elif not all_rows:
        console.print(f"{differ} of {len(keys)} metrics differ{within}")


def _compare_figure(path: Path, columns: list[tuple[Path, dict[str, Any]]], keys: list[str]) -> None:
    """Grouped bars: one group per numeric metric (at most 12), one bar per run."""
    from toolkit.plots import compare_bars, png_bytes

    numeric = [k for k in keys if all(isinstance(f.get(k), int | float) for _, f in columns)][:12]
    if not numeric:
        raise UsageError("--figure: none of the chosen metrics is a number in every run")
    runs = {
        f"{folder.parent.name}/{folder.name}": [float(flat[k]) for k in numeric] for folder, flat in columns
    }
    try:
        path.write_bytes(png_bytes(compare_bars(runs, numeric)))
    except OSError as exc:
        raise UsageError(f"--figure {path}: cannot write it ({exc.strerror or exc})") from exc
    get_console().print(f"figure: {path}")


def _agree(values: list[Any], tolerance: float) -> bool:
    """Whether the values of one metric agree: numbers within ``tolerance``, others exactly."""
    import math

    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) == len(values) and all(math.isfinite(v) for v in numbers):
        return all(math.isclose(v, numbers[0], rel_tol=tolerance, abs_tol=tolerance) for v in numbers)
    return len({json.dumps(v, sort_keys=True) for v in values}) == 1


def report(
    folder: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.")],
) -> None:
    """Write a run's or a sweep's report.html again from its stored files."""
    if (folder / "sweep.json").is_file():
        from toolkit.sweep import summary

        found = summary.read(folder)
        summary.write(folder, found)
        print_tables(get_console(), [summary.table(found)])
        typer.echo(f"report: {folder / 'report.html'}")
        return
    from toolkit.execution.runread import is_run_folder

    if not is_run_folder(folder):
        raise UsageError(f"{folder} is neither a run folder (metrics.json) nor a sweep folder (sweep.json)")
    from toolkit.execution.runfolder import rerender

    path, tables = rerender(folder)
    print_tables(get_console(), tables)
    typer.echo(f"report: {path}")
