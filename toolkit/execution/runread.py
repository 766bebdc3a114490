"""Reading run folders back: the one reader behind compare, report, track and sweep summaries.

:mod:`toolkit.execution.runfolder` writes a run folder; this module reads its files, each
through one check, so a missing or corrupt file is one :class:`~toolkit.errors.UsageError`
that names the file, says what is wrong with it and what to do, whichever command met it.

- :func:`run_folders`: the run folders a command line names (each a run folder or a folder
  of them).
- :func:`load_run`: a finished run's ``recipe.toml``, ``meta.json`` and ``metrics.json``,
  parsed, as a :class:`StoredRun`.
- :func:`read_metrics`, :func:`read_meta`, :func:`read_history`, :func:`read_tables`,
  :func:`read_figures`: one file (or folder) each, for a reader that needs only that.

Per-sample columns (``samples/*.npz``) are read by
:func:`toolkit.execution.runfolder.read_samples`, next to the function that writes them.
Importing this module imports neither torch nor NumPy.

Example:
    >>> import json, tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    >>> read_metrics(run)
    {'accuracy': 0.9}
    >>> _ = (run / "meta.json").write_text("[1, 2]")
    >>> read_meta(run)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    toolkit.errors.UsageError: ...meta.json holds a JSON list, not a table; ...
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from toolkit.results import Table

__all__ = [
    "ADVICE",
    "HISTORY",
    "META",
    "METRICS",
    "PARTIAL",
    "RECIPE",
    "REQUIRED",
    "TABLES",
    "StoredRun",
    "check_finished",
    "is_run_folder",
    "load_run",
    "read_figures",
    "read_history",
    "read_json",
    "read_meta",
    "read_metrics",
    "read_tables",
    "run_folders",
]

METRICS, META, RECIPE = "metrics.json", "meta.json", "recipe.toml"
HISTORY, TABLES = "history.json", "tables.json"
#: The files every finished run folder holds.
REQUIRED = (METRICS, META, RECIPE)
#: The name of a run folder starts with this until the run has finished.
PARTIAL = ".partial-"
#: What to do about a file that is not what ``toolkit run`` wrote.
ADVICE = "it is not the file toolkit run wrote: run the recipe again, or leave this folder out"


@dataclass(frozen=True)
class StoredRun:
    """A finished run folder's stored files, parsed.

    Args:
        folder: the run folder.
        recipe_toml: the resolved recipe as written (``recipe.toml``).
        recipe: the same recipe, parsed.
        meta: ``meta.json`` (versions, fingerprints, timings, device).
        metrics: ``metrics.json``.
    """

    folder: Path
    recipe_toml: str
    recipe: dict[str, Any]
    meta: dict[str, Any]
    metrics: dict[str, Any]


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` holds a ``metrics.json`` (what every run folder writes last but one)."""
    return (path / METRICS).is_file()


def run_folders(paths: Sequence[Path]) -> list[Path]:
    """The run folders that ``paths`` name, each a run folder or a folder of them.

    Raises:
        UsageError: a path is neither, or no run folder is found at all.
    """
    out: list[Path] = []
    for p in paths:
        if is_run_folder(p):
            out.append(p)
        elif p.is_dir():
            out += sorted(c for c in p.iterdir() if is_run_folder(c) and not c.name.startswith("."))
        else:
            raise UsageError(f"{p} is not a run folder (no metrics.json there)")
    if not out:
        raise UsageError(f"no run folders (with metrics.json) in {', '.join(map(str, paths))}")
    return out


def check_finished(folder: Path, needs: Sequence[str] = REQUIRED) -> None:
    """A usage error unless ``folder`` is a finished run folder holding the files ``needs``."""
    if folder.name.startswith(PARTIAL):
        raise UsageError(f"{folder} is a run that has not finished (or was interrupted); name a finished one")
    for name in needs:
        if not (folder / name).is_file():
            raise UsageError(_missing(folder, name))


def load_run(folder: Path) -> StoredRun:
    """A finished run folder's recipe, metadata and metrics.

    Raises:
        UsageError: the folder has not finished, lacks one of :data:`REQUIRED`, or one of
            them is not what ``toolkit run`` writes (not UTF-8, not TOML or JSON, not a table).
    """
    check_finished(folder)
    recipe_toml = _text(folder / RECIPE, ADVICE)
    recipe = _parse(folder / RECIPE, recipe_toml, tomllib.loads, "TOML", ADVICE)
    return StoredRun(folder, recipe_toml, recipe, read_meta(folder), read_metrics(folder))


def read_metrics(folder: Path, *, advice: str = ADVICE) -> dict[str, Any]:
    """A run's ``metrics.json``: a JSON table.

    Args:
        folder: the run folder.
        advice: what the error tells the user to do about a corrupt file.
    """
    return read_json(folder / METRICS, table=True, advice=advice)


def read_meta(folder: Path) -> dict[str, Any]:
    """A run's ``meta.json``: a JSON table."""
    return read_json(folder / META, table=True)


def read_history(folder: Path) -> Any:
    """A run's per-epoch ``history.json`` (its records as written); ``[]`` where there is none."""
    path = folder / HISTORY
    return read_json(path) if path.is_file() else []


def read_tables(folder: Path) -> list[Table]:
    """A run's result tables (``tables.json``); none where the folder has no such file."""
    from toolkit.results import Table

    path = folder / TABLES
    if not path.is_file():
        return []
    raw = read_json(path)
    try:
        return [Table(str(t["title"]), list(t["columns"]), list(t["rows"])) for t in raw]
    except (KeyError, TypeError) as exc:
        raise UsageError(
            f"{path} does not hold tables of a title, columns and rows (no {exc}); {ADVICE}"
        ) from exc


def read_figures(folder: Path) -> dict[str, bytes]:
    """A run's figures (``figures/*.png``) by name; none where the folder has no figures."""
    try:
        return {p.stem: p.read_bytes() for p in sorted((folder / "figures").glob("*.png"))}
    except OSError as exc:
        raise UsageError(f"{exc.filename or folder / 'figures'} cannot be read ({exc}); {ADVICE}") from exc


def read_json(path: Path, *, table: bool = False, advice: str = ADVICE) -> Any:
    """One JSON file of a run folder (a table when ``table``); a usage error that names it.

    Args:
        path: the file.
        table: the file must hold a JSON object.
        advice: what the error tells the user to do about a corrupt file.
    """
    value = _parse(path, _text(path, advice), json.loads, "JSON", advice)
    if table and not isinstance(value, dict):
        raise UsageError(f"{path} holds a JSON {type(value).__name__}, not a table; {advice}")
    return value


def read_text(path: Path, *, advice: str = ADVICE) -> str:
    """A text file of a run or sweep folder as UTF-8; a link or an unreadable file is a usage
    error that names it."""
    return _text(path, advice)


def _text(path: Path, advice: str) -> str:
    if path.is_symlink():  # a run folder's files are its own: never read a link's target into a report
        raise UsageError(f"{path} is a symbolic link, not a file the run wrote; {advice}")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(_missing(path.parent, path.name)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} cannot be read ({exc}); {advice}") from exc


#: How deeply a run folder's JSON or TOML may nest (the toolkit writes a few levels).
MAX_DEPTH = 64


def _parse(path: Path, text: str, parse: Callable[[str], Any], kind: str, advice: str) -> Any:
    try:
        value = parse(text)
    except ValueError as exc:  # JSON and TOML errors are ValueErrors
        raise UsageError(f"{path} is not valid {kind} ({exc}); {advice}") from exc
    except RecursionError as exc:
        raise UsageError(f"{path} is nested too deeply to read; {advice}") from exc
    if _depth(value) > MAX_DEPTH:
        raise UsageError(f"{path} is nested more than {MAX_DEPTH} levels deep; {advice}")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` nests tables and lists (without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def _missing(folder: Path, name: str) -> str:
    return f"{folder} is not a finished run folder (no {name}); name a folder that toolkit run wrote"
