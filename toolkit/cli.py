"""The ``toolkit`` command: run, validate, list, show, compare and cache.

Errors print one readable message and exit with status 2 for bad usage or 1 for a failed
run; ``--debug`` (anywhere on the command line) shows the traceback too. ``--help``,
``list``, ``show`` and ``validate`` do not import torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit import __version__
from toolkit.cli_recipes import recipes_app
from toolkit.errors import Terminated, ToolkitError, UsageError

app = typer.Typer(
    name="toolkit",
    help="Trustworthy-ML experiments from TOML recipes: fairness, OOD detection, attacks, "
    "defenses and explanations, checked against the reference libraries.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
cache_app = typer.Typer(help="Inspect or empty the artifact cache (trained models).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
app.add_typer(recipes_app, name="recipes")

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Override a recipe key, e.g. --set train.epochs=3 (value parsed as TOML)."
    ),
]


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200  # piped or captured output: never truncate tables to 80 columns
    return console


def _version(value: bool) -> None:
    if value:
        typer.echo(f"toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Options that apply to every command; ``--debug`` anywhere shows tracebacks."""


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="The recipe file (TOML).")],
    overrides: SetOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Parent folder of the run folders.")] = Path(
        "runs"
    ),
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither reuse nor store trained models.")
    ] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (overrides runtime.device).")] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (overrides runtime.threads).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the run folder.")] = False,
    track: Annotated[
        str | None, typer.Option(help="Log the finished run to an experiment tracker: mlflow.")
    ] = None,
    track_uri: Annotated[
        str | None,
        typer.Option(help="The tracking store (default $MLFLOW_TRACKING_URI, else sqlite:///./mlruns.db)."),
    ] = None,
    track_experiment: Annotated[
        str | None, typer.Option(help="The tracking experiment (default the recipe's name).")
    ] = None,
) -> None:
    """Run a recipe and write its run folder (metrics, figures, report.html)."""
    from toolkit.recipe import load_recipe

    sets = list(overrides or [])
    origins = {}
    if device is not None:
        sets.append(f"runtime.device={json.dumps(device)}")
        origins["runtime.device"] = "--device"
    if threads is not None:
        sets.append(f"runtime.threads={threads}")
        origins["runtime.threads"] = "--threads"
    resolved = load_recipe(recipe, sets, origins=origins)
    tracking = None  # checked before the work: a bad --track exits with 2 and runs nothing
    if track is not None or track_uri is not None or track_experiment is not None:
        tracking = _check_tracking(track, track_uri)
    from toolkit.execution.distributed import is_main
    from toolkit.execution.runner import run as run_recipe

    console = None if quiet or not is_main() else _console()  # under torchrun, rank 0 speaks
    result = run_recipe(resolved, out_dir=out, use_cache=not no_cache, console=console)
    if console is not None:
        _print_tables(console, result.tables)
        console.print(f"run folder: [bold]{result.path}[/bold]  (report: {result.path / 'report.html'})")
    elif is_main():
        typer.echo(str(result.path))
    if tracking is not None and is_main():
        _track([result.path], *tracking, experiment=track_experiment, after_run=True)


def _print_tables(console: Any, tables: list[Any]) -> None:
    from rich.table import Table

    from toolkit.report import fmt

    for t in tables:
        table = Table(title=t.title, title_justify="left")
        for i, col in enumerate(t.columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in t.rows:
            table.add_row(*(fmt(v) for v in row))
        console.print(table)


@app.command()
def validate(
    recipe: Annotated[Path, typer.Argument(help="The recipe file (TOML).")],
    overrides: SetOption = None,
) -> None:
    """Check a recipe, component parameters included, without running it."""
    from toolkit.recipe import load_recipe

    resolved = load_recipe(recipe, list(overrides or []))
    parts = [f"task {resolved.task.name}", f"dataset {resolved.dataset.name}"]
    if resolved.model is not None:
        parts.append(f"model {resolved.model.name}")
    from toolkit.kinds import list_sections

    for section in list_sections():
        if resolved.section(section):
            parts.append(f"{section} {', '.join(c.name for c in resolved.section(section))}")
    typer.echo(f"{recipe}: valid ({'; '.join(parts)}); fingerprint {resolved.fingerprints()['run'][:12]}")


@app.command("list")
def list_(
    kind: Annotated[str | None, typer.Argument(help="A component kind, e.g. detectors.")] = None,
    pattern: Annotated[str, typer.Argument(help="Wildcard filter on names, e.g. 'm*'.")] = "*",
) -> None:
    """List registered components with the distribution that provides each.

    Components of other distributions (plugins) are imported to check them: one that fails
    to import is marked, and so is a name that more than one distribution registers.
    """
    from rich.markup import escape
    from rich.table import Table

    from toolkit.registry import KINDS, import_problem, registry

    kinds = [registry(kind).kind] if kind else list(KINDS)
    table = Table(box=None, pad_edge=False)
    for col in ("kind", "name", "distribution", "target", "note"):
        table.add_column(col, no_wrap=col != "note")
    found = 0
    for k in kinds:
        reg = registry(k)
        clashes = reg.clashes()
        for entry in reg.find(pattern):
            notes = []
            if entry.name in clashes:
                winner = "used by default" if entry.builtin else f"pick with '{entry.qualified}'"
                notes.append(f"[yellow]name clash[/yellow] ({winner})")
            problem = None if entry.builtin else import_problem(entry)
            if problem:
                notes.append(f"[red]fails to import[/red]: {escape(problem)}")
            table.add_row(k, entry.name, entry.provider, entry.target, "; ".join(notes))
            found += 1
    console = _console()
    if found:
        console.print(table)
    else:
        what = f"{kinds[0]} " if kind else "components "
        console.print(f"no {what}match '{pattern}'")


@app.command()
def show(
    kind: Annotated[str, typer.Argument(help="A component kind, e.g. detectors.")],
    name: Annotated[str, typer.Argument(help="The component's name.")],
) -> None:
    """Show a component's parameters, types, defaults and documentation."""
    from rich.markup import escape
    from rich.table import Table

    from toolkit.kinds import singular
    from toolkit.registry import registry

    reg = registry(kind)
    entry = reg.get(name)
    sig = entry.signature()
    console = _console()
    console.print(f"[bold]{singular(reg.kind)} {entry.name}[/bold]  ({entry.provider}, {entry.target})")
    if sig.params:
        table = Table(box=None, pad_edge=False)
        for col in ("parameter", "type", "default"):
            table.add_column(col)
        for p in sig.params:
            table.add_row(
                escape(p.name),
                escape(p.display_type),
                "(required)" if p.required else escape(repr(p.default)),
            )
        console.print(table)
    else:
        console.print("no parameters")
    if sig.open:
        console.print("also passes any other key through to the component")
    if sig.doc:
        console.print()
        console.print(sig.doc, markup=False, soft_wrap=True)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or folders holding run folders.")],
    all_rows: Annotated[
        bool, typer.Option("--all/--differ", help="Show every metric, or only those that differ.")
    ] = True,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Numbers within this relative (or, near zero, absolute) distance count as equal.",
        ),
    ] = 1e-9,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Only these metrics: names or patterns (detectors.*.auroc)."),
    ] = None,
    figure: Annotated[
        Path | None, typer.Option(help="Also draw the chosen numeric metrics as grouped bars into this PNG.")
    ] = None,
) -> None:
    """Compare the metrics of several runs side by side."""
    from rich.table import Table

    from toolkit.report import flatten, fmt

    folders = _run_folders(runs)
    columns = [(folder, flatten(_read_metrics(folder))) for folder in folders]
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
    console = _console()
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
    _console().print(f"figure: {path}")


def _read_metrics(folder: Path) -> dict[str, Any]:
    """A run's ``metrics.json``; a file that is not a JSON table is a usage error naming it."""
    path = folder / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"{path} cannot be read as JSON ({exc}); is it a run folder's metrics file?"
        ) from exc
    if not isinstance(metrics, dict):
        raise UsageError(f"{path} holds a JSON {type(metrics).__name__}, not a table of metrics")
    return metrics


def _agree(values: list[Any], tolerance: float) -> bool:
    """Whether the values of one metric agree: numbers within ``tolerance``, others exactly."""
    import math

    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) == len(values) and all(math.isfinite(v) for v in numbers):
        return all(math.isclose(v, numbers[0], rel_tol=tolerance, abs_tol=tolerance) for v in numbers)
    return len({json.dumps(v, sort_keys=True) for v in values}) == 1


def _run_folders(paths: list[Path]) -> list[Path]:
    """The run folders named by ``paths`` (each a run folder or a folder of them); a usage
    error when a path is neither, or when none is found."""
    out = []
    for p in paths:
        if (p / "metrics.json").is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(
                c for c in p.iterdir() if (c / "metrics.json").is_file() and not c.name.startswith(".")
            )
        else:
            raise UsageError(f"{p} is not a run folder (no metrics.json there)")
    if not out:
        raise UsageError(f"no run folders (with metrics.json) in {', '.join(map(str, paths))}")
    return out


@app.command()
def track(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or folders holding run folders.")],
    tracker: Annotated[str, typer.Option(help="The experiment tracker: mlflow.")] = "mlflow",
    uri: Annotated[
        str | None,
        typer.Option(help="The tracking store (default $MLFLOW_TRACKING_URI, else sqlite:///./mlruns.db)."),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="The tracking experiment (default each recipe's name).")
    ] = None,
) -> None:
    """Log finished run folders to an experiment tracker (what run --track does after a run)."""
    folders = _run_folders(runs)
    from toolkit.tracking import read_run

    for folder in folders:  # every folder is a finished run before anything is logged
        read_run(folder)
    _track(folders, *_check_tracking(tracker, uri), experiment=experiment)


def _check_tracking(tracker: str | None, uri: str | None) -> tuple[str, str]:
    """The tracker and its URI, once both and the tracker's library are known to be usable."""
    if tracker is None:
        raise UsageError("--track-uri and --track-experiment need --track mlflow")
    from toolkit.tracking import connect

    return tracker, connect(tracker, uri)[1]


def _track(
    folders: list[Path], tracker: str, uri: str, *, experiment: str | None, after_run: bool = False
) -> None:
    """Log finished run folders. A failure keeps every folder, says how to log it later and
    exits with 1; after a run, a usage error of the tracker (a deleted experiment) does too."""
    import shlex

    from rich.markup import escape

    from toolkit.tracking import log_run, ui_hint

    console = _console(stderr=True)
    for folder in folders:
        try:
            run_id = log_run(folder, tracker=tracker, uri=uri, experiment=experiment)
        except Exception as exc:
            if isinstance(exc, UsageError) and not after_run:
                raise
            again = ["toolkit", "track", str(folder), "--uri", uri]
            again += ["--experiment", experiment] if experiment else []
            console.print(
                f"[bold yellow]warning:[/bold yellow] {escape(str(exc))}\nThe run folder {folder} is "
                f"complete and kept; log it once the tracking store works again: {escape(shlex.join(again))}",
                soft_wrap=True,
            )
            raise typer.Exit(1) from exc
        console.print(f"{tracker} run {run_id} ({folder.name}) in {uri}", soft_wrap=True)
    console.print(f"see the runs: {ui_hint(uri)}", soft_wrap=True)


@cache_app.command("ls")
def cache_ls() -> None:
    """List the cached artifacts."""
    import datetime as dt

    from rich.markup import escape
    from rich.table import Table

    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache()
    entries = store.entries()
    console = _console()
    if not entries:
        console.print(f"the cache at {store.root} is empty")
        return
    table = Table(title=f"cache: {store.root}", title_justify="left")
    for col in ("kind", "key", "size", "created", "what"):
        table.add_column(col)
    for e in entries:
        what = (
            f"[red]BAD[/red]: {escape(e.problem)}"
            if e.problem
            else escape(str(e.meta.get("description", "")))
        )
        table.add_row(
            e.kind,
            e.key[:12],
            f"{e.size / 1e6:.2f} MB",
            dt.datetime.fromtimestamp(e.created).strftime("%Y-%m-%d %H:%M"),
            what,
        )
    console.print(table)
    bad = sum(1 for e in entries if e.problem)
    if bad:
        console.print(f"{bad} bad entr{'y' if bad == 1 else 'ies'}: runs recompute and replace them")


@cache_app.command("verify")
def cache_verify() -> None:
    """Check every cached artifact (header, key, stage fingerprint, tensor checksum); exit 1 if any is bad."""
    from rich.markup import escape

    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache()
    results = store.verify()
    console = _console()
    for entry, problem in results:
        if problem:
            console.print(f"[red]BAD[/red] {entry.kind}/{entry.key[:12]}: {escape(problem)}")
    bad = sum(1 for _, p in results if p)
    console.print(f"{len(results) - bad} of {len(results)} entries in {store.root} pass every check")
    if bad:
        raise typer.Exit(1)


@cache_app.command("clear")
def cache_clear(
    kind: Annotated[str | None, typer.Option(help="Only artifacts of this kind (e.g. model).")] = None,
) -> None:
    """Remove cached artifacts."""
    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache()
    try:
        removed = store.clear(kind)
    except ValueError as exc:
        raise UsageError(f"--kind: {exc}; kinds are folder names shown by 'toolkit cache ls'") from exc
    _console().print(f"removed {removed} artifact{'s' if removed != 1 else ''} from {store.root}")


def _format_warning(message: Any, category: Any, filename: str, lineno: int, line: Any = None) -> str:
    from toolkit.errors import ToolkitWarning

    if isinstance(category, type) and issubclass(category, ToolkitWarning):
        return f"warning: {message}\n"
    return f"{filename}:{lineno}: {category.__name__}: {message}\n"


def _on_signals() -> None:
    """SIGTERM raises :class:`~toolkit.errors.Terminated` and SIGINT ``KeyboardInterrupt``
    where the program is, so a run removes its partial folder, then exits with 143 or 130.

    The stop is also remembered (:func:`toolkit.interrupt.request_stop`) and raised again by
    the training loop, every inference batch and the run before it finishes, in case the
    first exception was swallowed: a signal can land in a finalizer, where Python ignores
    exceptions and prints "Exception ignored ... Traceback" instead. That report is
    silenced for these two exceptions only, since the remembered stop still ends the run.
    """
    import signal

    def handler(signum: int, frame: Any) -> None:
        from toolkit.interrupt import request_stop

        exc: BaseException = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        request_stop(exc)
        raise exc

    default_hook = sys.unraisablehook

    def unraisable(report: Any) -> None:
        if not isinstance(report.exc_value, KeyboardInterrupt | Terminated):
            default_hook(report)

    with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave it
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        sys.unraisablehook = unraisable


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``toolkit`` console script."""
    import warnings

    warnings.formatwarning = _format_warning
    _on_signals()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("TOOLKIT_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    code = 0
    from toolkit.interrupt import request_stop

    request_stop(None)  # a stop left by an earlier call in this process is not this call's
    try:
        result = app(args=args, prog_name="toolkit", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == 130:  # typer turns Ctrl-C into Exit(130), which click returns here
            _console(stderr=True).print("interrupted (Ctrl-C): nothing half-written was kept")
    except ToolkitError as exc:
        _report(exc, debug)
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        _console(stderr=True).print("interrupted (Ctrl-C): nothing half-written was kept")
        code = 130
    except Terminated:
        _console(stderr=True).print("interrupted (SIGTERM): nothing half-written was kept")
        code = Terminated.exit_code
    except Exception as exc:
        exit_code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(exit_code, int):
            exc.show()  # a command-line usage error of click (or typer's copy of it)
            code = exit_code
        else:  # a bug: say so plainly
            _report(exc, debug, prefix="internal error")
            code = 1
    sys.exit(code)


def _report(exc: BaseException, debug: bool, prefix: str = "error") -> None:
    console = _console(stderr=True)
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    from rich.markup import escape

    from toolkit.execution.distributed import rank_label

    prefix += rank_label()  # under torchrun, which process says it
    console.print(f"[bold red]{prefix}:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    if not debug and not isinstance(exc, UsageError):
        console.print("[dim]run again with --debug for the traceback[/dim]")


# ``toolkit sweep`` and ``toolkit report`` live in their own module, which adds them to ``app``
import toolkit.cli_sweep  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
