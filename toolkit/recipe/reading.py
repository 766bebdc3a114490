"""Reading a recipe: the TOML file, and the ``--set key.path=value`` overrides applied to it.

Example:
    >>> data = {"train": {"epochs": 10}, "detectors": [{"name": "msp"}]}
    >>> apply_overrides(data, ["train.epochs=3", "detectors.0.temperature=2.0"])
    []
    >>> data
    {'train': {'epochs': 3}, 'detectors': [{'name': 'msp', 'temperature': 2.0}]}
    >>> parse_value('["frog"]'), parse_value("frog")
    (['frog'], 'frog')
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toolkit.errors import Problem, UsageError
from toolkit.kinds import list_sections

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a recipe file; a missing or malformed file is a usage error naming the line."""
    p = Path(path)
    if not p.exists():
        raise UsageError(
            f"recipe file not found: {p}. Check the path, or name a packaged recipe "
            "(see them with: toolkit recipes ls)."
        )
    if p.is_dir():
        raise UsageError(f"{p} is a folder, not a recipe file: name a .toml file in it.")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe {p}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p} is not valid TOML: {exc}. Fix the file at that line.") from exc
    except RecursionError as exc:
        raise UsageError(
            f"{p}: a value is nested too deeply to read; no recipe nests more than a few levels"
        ) from exc


def parse_value(text: str) -> Any:
    """Parse an override value as TOML (``3``, ``0.1``, ``["frog"]``, ``true``), else a string.

    Raises:
        UsageError: the value is nested too deeply to read.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError as exc:
        raise UsageError(f"--set: the value {text[:40]}... is nested too deeply to read") from exc


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> list[Problem]:
    """Apply ``key.path=value`` overrides in place; lists are addressed by index.

    A key that the recipe does not have is added, and validation then rejects it unless the
    schema or the component's signature knows it; an index past the end of a list, or a
    path through a value that is not a table, is a problem.
    """
    problems = []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem("--set", f"'{item}' is not key=value (e.g. train.epochs=3)"))
            continue
        parts = key.split(".")
        node: Any = data
        where: list[str] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where.append(part)
            path = ".".join(where)
            if isinstance(node, list):
                if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                    span = f" (indices 0 to {len(node) - 1})" if node else ""
                    problems.append(Problem(path, f"no such entry: the list has {len(node)} entries{span}"))
                    break
                if last:
                    node[int(part)] = parse_value(value)
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = parse_value(value)
                else:
                    if part not in node:
                        if part in list_sections():
                            problems.append(Problem(path, "the recipe has no such list to index"))
                            break
                        node[part] = {}
                    node = node[part]
            else:
                problems.append(Problem(".".join(where[:-1]), "is not a table; cannot set a key in it"))
                break
    return problems
