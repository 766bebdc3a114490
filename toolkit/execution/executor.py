"""The seam for running many recipes: an executor takes jobs and yields their results.

``toolkit run`` runs one job in this process. A sweep (one recipe over a grid of
overrides) hands its jobs to an :class:`Executor`; :class:`LocalExecutor` runs them one
after another in this process, and a process pool or a Ray cluster implements the same two
methods. A job is plain data (a recipe file, overrides, where to write), so it can be sent
to another process or machine, which resolves the recipe there and calls
:func:`toolkit.execution.runner.run`: the same pipeline, the same cache keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from toolkit.errors import ToolkitError


@dataclass(frozen=True)
class Job:
    """One run: a recipe file, its ``--set`` overrides and where the run folder goes."""

    recipe: str
    overrides: tuple[str, ...] = ()
    out_dir: str = "runs"
    use_cache: bool = True


@dataclass
class JobResult:
    """A finished job: its run folder, or the error that stopped it (other jobs go on)."""

    job: Job
    path: Path | None = None
    metrics: dict[str, object] = field(default_factory=dict)
    error: str | None = None


class Executor(Protocol):
    """Runs jobs; results come back as each job finishes (not necessarily in order)."""

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]: ...


def run_job(job: Job) -> JobResult:
    """Resolve and run one job in this process; a failure becomes the result's ``error``."""
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    try:
        result = run(load_recipe(job.recipe, job.overrides), out_dir=job.out_dir, use_cache=job.use_cache)
    except ToolkitError as exc:
        return JobResult(job, error=str(exc))
    return JobResult(job, result.path, result.metrics)


class LocalExecutor:
    """Runs the jobs one after another in this process."""

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        for job in jobs:
            yield run_job(job)
