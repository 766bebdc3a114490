"""``toolkit recipes``: list the recipes that ship with the package and copy one out to edit.

:mod:`toolkit.cli` adds ``recipes_app`` to the main app; the recipes themselves are found by
:mod:`toolkit.packaged`. Neither imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.base import get_console

recipes_app = typer.Typer(
    help="The ready recipes that ship with the toolkit: list them, copy one to edit and run.",
    no_args_is_help=True,
)


def complete_recipe(incomplete: str) -> list[str]:
    """Shell completion of a packaged recipe's name (nothing where none can be found)."""
    from toolkit.errors import UsageError
    from toolkit.packaged import recipe_names

    try:
        return [name for name in recipe_names() if name.startswith(incomplete)]
    except UsageError:
        return []


@recipes_app.command("ls")
def recipes_ls() -> None:
    """List the packaged recipes: name, task and what each one does."""
    from rich.table import Table

    from toolkit.packaged import describe, recipe_names, recipes_dir

    folder = recipes_dir()
    table = Table(title=f"recipes in {folder}", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("description")
    for name in recipe_names():
        info = describe(folder / f"{name}.toml")
        table.add_row(info.name, info.task, info.description)
    console = get_console()
    console.print(table)
    console.print("copy one to edit it: toolkit recipes cp NAME; or run it as is: toolkit run NAME")


@recipes_app.command("cp")
def recipes_cp(
    name: Annotated[
        str,
        typer.Argument(help="A packaged recipe (see: toolkit recipes ls).", autocompletion=complete_recipe),
    ],
    dest: Annotated[Path, typer.Argument(help="The folder (or .toml file name) to copy it to.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite files that exist.")] = False,
) -> None:
    """Copy a packaged recipe, and any recipe its [train] init_from names, to edit and run."""
    from toolkit.packaged import copy_recipe

    written = copy_recipe(name, dest, force=force)
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"run it with: toolkit run {written[0]}")
