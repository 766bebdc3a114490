"""Verdicts of the audit's checks, and what a check returns.

A verdict is ``pass``, ``warn``, ``fail`` or ``skipped`` (the check did not apply, or could
not run, and ``reason`` says why). Ordered from best to worst as ``pass`` < ``warn`` <
``fail``; ``skipped`` ranks with none of them. ``at_or_worse(verdict, level)`` is what
``--fail-on`` asks: ``warn`` matches warnings and failures, ``fail`` failures only.

Example:
    >>> worst(["pass", "warn", "skipped"])
    'warn'
    >>> at_or_worse("warn", "fail"), at_or_worse("fail", "warn")
    (False, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from toolkit.results import Table

Verdict = Literal["pass", "warn", "fail", "skipped"]
#: The verdicts that rank, best first.
RANKED: tuple[Verdict, ...] = ("pass", "warn", "fail")

__all__ = ["RANKED", "CheckResult", "Verdict", "at_or_worse", "worst"]


@dataclass
class CheckResult:
    """One check's outcome.

    Args:
        verdict: ``pass``, ``warn``, ``fail`` or ``skipped``.
        reason: one sentence saying why, with the numbers and the thresholds.
        metrics: the check's numbers (``metrics.json`` under ``checks.<check>``).
        tables: its tables in the report.
        figures: its figures, by name.
    """

    verdict: Verdict
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)


def worst(verdicts: Iterable[str]) -> Verdict:
    """The worst ranked verdict (``skipped`` when none ranks)."""
    ranked = [v for v in verdicts if v in RANKED]
    return max(ranked, key=RANKED.index) if ranked else "skipped"


def at_or_worse(verdict: str, level: str) -> bool:
    """Whether ``verdict`` is ``level`` or worse (``skipped`` never is)."""
    if verdict not in RANKED or level not in RANKED:
        return False
    return RANKED.index(verdict) >= RANKED.index(level)
