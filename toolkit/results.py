"""What a task returns: metrics, tables, figures and per-sample columns.

A leaf module: tasks, the runner and the report import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure


@dataclass
class Table:
    """A table of results: shown on the console and in the report."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class TaskResult:
    """What a task returns.

    Args:
        metrics: nested metrics (``metrics.json``).
        tables: tables for the console and the report.
        figures: figures (``figures/<name>.png``).
        samples: per-sample columns a researcher re-analyses, by table name: each table
            maps column names to arrays of one length (``samples/<name>.npz`` in the run
            folder; predictions, probabilities, detector scores, group columns).
        files: other files of the run folder by name (``attributions.json``,
            ``explanations.html``): text, written as UTF-8.
    """

    metrics: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)
    samples: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
