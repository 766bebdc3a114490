"""``toolkit export``: a finished run's final model as a file (a ``torch.export`` program or
its weights), with the ``[model]`` table that brings it back as given
(:mod:`toolkit.execution.export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.base import get_console

_To = typer.Option(
    "--to", help="The file to write: .pt2 (a torch.export program), .safetensors or .pth (the weights)."
)


def export(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    to: Annotated[Path, _To],
) -> None:
    """Write a run's final model to a file, and print the [model] table that evaluates it as given."""
    import tomli_w

    from toolkit.execution.export import FORMATS, export_run

    table = export_run(run, to)
    console = get_console()
    console.print(f"wrote {to} ({FORMATS[to.suffix]}); to evaluate it as given, use in a recipe:")
    console.print(tomli_w.dumps({"model": table}).rstrip(), style="bold")
