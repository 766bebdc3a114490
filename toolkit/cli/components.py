"""``toolkit list`` and ``toolkit show``: the registered components, and one component's
parameters. Neither imports torch (``list`` imports only the components of plugins)."""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.cli.base import get_console


def list_(
    kind: Annotated[str | None, typer.Argument(help="A component kind, e.g. detectors.")] = None,
    pattern: Annotated[str, typer.Argument(help="Wildcard filter on names, e.g. 'm*'.")] = "*",
) -> None:
    """List registered components with the distribution that provides each.

    Components of other distributions (plugins) are imported to check them: one that fails
    to import is marked, and so is a name that more than one distribution registers.
    """
    from rich.table import Table
    from rich.text import Text

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
            notes = Text()
            if entry.name in clashes:
                winner = "used by default" if entry.builtin else f"pick with '{entry.qualified}'"
                notes.append_text(Text.assemble(("name clash", "yellow"), f" ({winner})"))
            problem = None if entry.builtin else import_problem(entry)
            if problem:
                notes.append_text(
                    Text.assemble("; " if notes else "", ("fails to import", "red"), f": {problem}")
                )
            table.add_row(k, entry.name, entry.provider, entry.target, notes)
            found += 1
    console = get_console()
    if found:
        console.print(table)
    else:
        what = f"{kinds[0]} " if kind else "components "
        console.print(f"no {what}match '{pattern}'")


def show(
    kind: Annotated[str, typer.Argument(help="A component kind, e.g. detectors.")],
    name: Annotated[str, typer.Argument(help="The component's name.")],
) -> None:
    """Show a component's parameters, types, defaults and documentation."""
    from rich.table import Table

    from toolkit.kinds import singular
    from toolkit.registry import registry

    reg = registry(kind)
    entry = reg.get(name)
    sig = entry.signature()
    console = get_console()
    console.print(f"{singular(reg.kind)} {entry.name}", style="bold", end="")
    console.print(f"  ({entry.provider}, {entry.target})")
    if sig.params:
        table = Table(box=None, pad_edge=False)
        for col in ("parameter", "type", "default"):
            table.add_column(col)
        for p in sig.params:
            table.add_row(
                p.name,
                p.display_type,
                "(required)" if p.required else repr(p.default),
            )
        console.print(table)
    else:
        console.print("no parameters")
    if sig.open:
        console.print("also passes any other key through to the component")
    if sig.doc:
        console.print()
        console.print(sig.doc, markup=False, soft_wrap=True)
