"""The rows of a sweep's summary (one per grid point) and how a swept value reads.

:mod:`toolkit.sweep.summary` fills the rows and :mod:`toolkit.sweep.figures` draws them;
both import this module, and neither imports the other for it.

Example:
    >>> value_text(["frog", "cat"]), value_text({"b": 1, "a": 2}), value_text(0.1)
    ('frog+cat', '{"a": 2, "b": 1}', '0.1')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Row", "value_text"]


@dataclass
class Row:
    """One grid point: its values, its runs' metrics, and their mean and std.

    Args:
        group: the point's name without its seed (the runs of one point share it).
        values: the swept keys' values at this point.
        runs: each finished run: its id, seed, folder (relative) and flattened metrics.
        failed: the ids of the runs that did not finish.
        mean: each chosen metric's mean over the runs (``None`` where no run has it).
        std: each chosen metric's sample standard deviation (``None`` under two runs).
    """

    group: str
    values: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    mean: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)


def value_text(value: Any) -> str:
    """A swept value as it reads in a table or on an axis (``frog`` for ``["frog"]``)."""
    if isinstance(value, list | tuple):
        return "+".join(value_text(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True)
    return str(value)
