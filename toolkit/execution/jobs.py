"""What an executor runs: a job as plain data, its result, and one job run in this process.

A :class:`Job` is a recipe file, its ``--set`` overrides and where to write, so it can be
sent to another process or machine, which calls :func:`run_job`: it resolves the recipe
there and calls :func:`toolkit.execution.runner.run` (the same pipeline, the same cache
keys). A job that fails becomes a :class:`JobResult` with its error; the other jobs go on.
Every executor (:mod:`toolkit.execution.executor`, :mod:`toolkit.execution.ray_executor`)
builds on this module, which imports neither.

Example:
    >>> Job("recipes/ood_frog.toml", ("train.epochs=1",)).out_dir
    'runs'
    >>> threads_per_job(3, cores=8)
    2
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from toolkit.errors import ToolkitError


@dataclass(frozen=True)
class Job:
    """One run: a recipe file, its ``--set`` overrides and where the run folder goes.

    ``run_dir`` is the run folder itself (a sweep's point) instead of a new folder under
    ``out_dir/<name>/``; ``threads`` is the torch thread count (``runtime.threads``), when the
    executor sets it.
    """

    recipe: str
    overrides: tuple[str, ...] = ()
    out_dir: str = "runs"
    use_cache: bool = True
    run_dir: str | None = None
    threads: int | None = None


@dataclass
class JobResult:
    """A finished job: its run folder, or the error that stopped it (other jobs go on)."""

    job: Job
    path: Path | None = None
    metrics: dict[str, object] = field(default_factory=dict)
    error: str | None = None
    #: Wall seconds of the job where it ran (start-up of a worker not included).
    seconds: float = 0.0


class Executor(Protocol):
    """Runs jobs; results come back as each job finishes (not necessarily in order)."""

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]: ...


def run_job(job: Job) -> JobResult:
    """Resolve and run one job in this process; a failure becomes the result's ``error``.

    A usage or run error gives its own message; any other exception (a bug in a component,
    say) gives its type and message, so one broken point never stops a sweep.
    """
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    started = time.perf_counter()
    overrides = job.overrides + ((f"runtime.threads={job.threads}",) if job.threads else ())
    try:
        recipe = load_recipe(job.recipe, overrides)
        result = run(recipe, out_dir=job.out_dir, use_cache=job.use_cache, console=None, run_dir=job.run_dir)
    except ToolkitError as exc:
        return JobResult(job, error=str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:
        return JobResult(job, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - started)
    return JobResult(job, result.path, result.metrics, seconds=time.perf_counter() - started)


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Each of ``jobs`` concurrent jobs' share of the cores (at least one thread).

    Example:
        >>> threads_per_job(2, cores=8), threads_per_job(4, cores=2)
        (4, 1)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))
