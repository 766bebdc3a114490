"""``toolkit audit``: audit a model, from an audit recipe or from options for the common case,
and exit with status 3 when a check's verdict is as bad as ``--fail-on`` says.

    toolkit audit recipes/audit_quickstart.toml
    toolkit audit --model model.pt2 --data cifar10 --fail-on fail
    toolkit audit --model small_cnn --data digits --set train.epochs=5

With ``--model`` and ``--data`` the command writes the audit recipe itself: a ``.pt2``
(``torch.export``) or ``.pt`` (TorchScript) file becomes the ``torchscript`` model,
evaluated as given; a registered model name is trained by the recipe's ``[train]``. The run
folder holds the recipe it used (``recipe.toml``), as every run folder does.

Exit statuses: 0 (done), 1 (the run failed), 2 (bad usage), 3 (with ``--fail-on``: a check's
verdict is that level or worse; ``--fail-on warn`` counts warnings and failures, ``fail``
failures only; ``skipped`` never counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

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

#: The exit status of an audit whose verdict reaches ``--fail-on``.
FAILED_CHECKS = 3
#: Model files the ``torchscript`` component loads.
PROGRAMS = (".pt2", ".pt")


_Recipe = typer.Argument(help="An audit recipe (TOML); or give --model and --data.")
_Model = typer.Option(help="A .pt2 or .pt model file, or a registered model name.")
_Data = typer.Option(help="A registered dataset (toolkit list datasets).")
_FailOn = typer.Option("--fail-on", help="Exit with status 3 when a check's verdict is this or worse.")


def audit(
    recipe: Annotated[Path | None, _Recipe] = None,
    model: Annotated[str | None, _Model] = None,
    data: Annotated[str | None, _Data] = None,
    fail_on: Annotated[Literal["warn", "fail"] | None, _FailOn] = None,
    overrides: SetOption = None,
    out: Annotated[Path, OutOption] = Path("runs"),
    no_cache: Annotated[bool, NoCacheOption] = False,
    device: Annotated[str | None, DeviceOption] = None,
    threads: Annotated[int | None, ThreadsOption] = None,
    quiet: Annotated[bool, QuietOption] = False,
) -> None:
    """Audit a model: every check that applies, a verdict each, one report."""
    from toolkit.audit.verdicts import at_or_worse
    from toolkit.execution.runner import run as run_recipe

    resolved = _recipe(recipe, model, data, list(overrides or []), device=device, threads=threads)
    console = None if quiet else get_console()
    result = run_recipe(resolved, out_dir=out, use_cache=not no_cache, console=console)
    if console is not None:
        print_tables(console, result.tables)
        report = f"  (report: {result.path / 'report.html'})"
        console.print(Text.assemble("run folder: ", (str(result.path), "bold"), report))
    else:
        typer.echo(str(result.path))
    checks = result.metrics.get("checks", {})
    if fail_on is not None:
        bad = [name for name, c in checks.items() if at_or_worse(c.get("verdict", ""), fail_on)]
        if bad:
            get_console(stderr=True).print(
                Text(
                    f"audit: {', '.join(bad)} at or worse than {fail_on} (--fail-on {fail_on}): exit status 3"
                )
            )
            raise typer.Exit(FAILED_CHECKS)


def _recipe(
    path: Path | None, model: str | None, data: str | None, sets: list[str], *, device: str | None,
    threads: int | None,
) -> Any:  # fmt: skip
    """The audit recipe of the file, or of ``--model`` and ``--data``, with the overrides."""
    from toolkit.recipe import load_recipe, parse_recipe

    origins = machine_overrides(sets, device=device, threads=threads)
    if path is not None:
        if model is not None or data is not None:
            raise UsageError("give an audit recipe, or --model and --data, not both")
        resolved = load_recipe(path, sets, origins=origins)
        if resolved.task.name != "audit":
            raise UsageError(
                f"{path} is a '{resolved.task.name}' recipe; toolkit audit runs audit recipes (task = "
                '"audit"): run this one with toolkit run'
            )
        return resolved
    if model is None or data is None:
        raise UsageError("give an audit recipe, or both --model (a .pt2/.pt file or a model name) and --data")
    return parse_recipe(_generated(model, data), sets, origins=origins)


def _generated(model: str, data: str) -> dict[str, Any]:
    """The audit recipe of ``--model`` and ``--data``."""
    file = Path(model).expanduser()
    if file.suffix in PROGRAMS:
        if not file.is_file():
            raise UsageError(f"--model: no file {file}")
        table: dict[str, Any] = {"name": "torchscript", "path": str(file.resolve())}
        name = f"audit_{file.stem}"
    else:
        table, name = {"name": model}, f"audit_{model}"
    safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)[:100]
    return {"task": "audit", "name": safe, "dataset": {"name": data}, "model": table}
