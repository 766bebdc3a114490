"""``toolkit cache``: list, check or empty the artifact cache (trained models)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from toolkit.cli.base import get_console
from toolkit.errors import UsageError

cache_app = typer.Typer(help="Inspect or empty the artifact cache (trained models).", no_args_is_help=True)


@cache_app.command("ls")
def cache_ls() -> None:
    """List the cached artifacts."""
    import datetime as dt

    from rich.table import Table

    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache()
    entries = store.entries()
    console = get_console()
    if not entries:
        console.print(f"the cache at {store.root} is empty")
        return
    table = Table(title=f"cache: {store.root}", title_justify="left")
    for col in ("kind", "key", "size", "created", "what"):
        table.add_column(col)
    for e in entries:
        what = (
            Text.assemble(("BAD", "red"), f": {e.problem}")
            if e.problem
            else Text(str(e.meta.get("description", "")))
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
    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache()
    results = store.verify()
    console = get_console()
    for entry, problem in results:
        if problem:
            console.print(Text.assemble(("BAD", "red"), f" {entry.kind}/{entry.key[:12]}: {problem}"))
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
    get_console().print(f"removed {removed} artifact{'s' if removed != 1 else ''} from {store.root}")
