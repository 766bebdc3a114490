"""What every command of the ``toolkit`` command line shares: the app, the console and the
table printer.

The command modules of :mod:`toolkit.cli` import from here and from modules outside the
command line, never from each other. Importing this module imports neither torch nor rich.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from toolkit.version import __version__

__all__ = [
    "DeviceOption",
    "NoCacheOption",
    "OutOption",
    "QuietOption",
    "SetOption",
    "ThreadsOption",
    "app",
    "get_console",
    "machine_overrides",
    "print_tables",
]

app = typer.Typer(
    name="toolkit",
    help="Trustworthy-ML experiments from TOML recipes: fairness, OOD detection, attacks, "
    "defenses and explanations, checked against the reference libraries.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: The ``--set`` option of the commands that read a recipe.
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Override a recipe key, e.g. --set train.epochs=3 (value parsed as TOML)."
    ),
]


#: Options several commands share (``run``, ``audit``, ``sweep``), said once.
OutOption = typer.Option("--out", "-o", help="Parent folder of the run folders.")
NoCacheOption = typer.Option("--no-cache", help="Neither reuse nor store trained models.")
DeviceOption = typer.Option(help="auto, cpu or cuda (overrides runtime.device).")
ThreadsOption = typer.Option(help="torch CPU threads (overrides runtime.threads).")
QuietOption = typer.Option("--quiet", "-q", help="Print only the run folder.")


def get_console(stderr: bool = False) -> Any:
    """A rich console on stdout (or stderr) that never cuts a table to 80 columns when piped.

    Args:
        stderr: print to standard error instead of standard output.

    Returns:
        A :class:`rich.console.Console` without highlighting and without markup: every
        string it prints is text (a path, a sentence or a metric name with square brackets
        is printed as it is); colour comes from ``style=`` or :class:`rich.text.Text` parts.
    """
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, markup=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200  # piped or captured output: never truncate tables to 80 columns
    return console


def print_tables(console: Any, tables: list[Any]) -> None:
    """Print result tables (:class:`toolkit.results.Table`), the first column left-aligned.

    Args:
        console: the rich console to print on.
        tables: the tables, each with a title, columns and rows.
    """
    from rich.table import Table

    from toolkit.report import fmt

    for t in tables:
        table = Table(title=t.title, title_justify="left")
        for i, col in enumerate(t.columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in t.rows:
            table.add_row(*(fmt(v) for v in row))
        console.print(table)


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


def machine_overrides(sets: list[str], *, device: str | None, threads: int | None) -> dict[str, str]:
    """Add ``--device`` and ``--threads`` to the ``--set`` overrides ``sets`` (in place), and
    return which option set each key, so a problem with it names the option."""
    import json

    origins = {}
    if device is not None:
        sets.append(f"runtime.device={json.dumps(device)}")
        origins["runtime.device"] = "--device"
    if threads is not None:
        sets.append(f"runtime.threads={threads}")
        origins["runtime.threads"] = "--threads"
    return origins
