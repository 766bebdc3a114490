"""The seam for running many recipes: an executor takes jobs and yields their results.

``toolkit run`` runs one job in this process. A sweep (one recipe over a grid of
overrides) hands its jobs to an :class:`Executor`:

- :class:`SerialExecutor` runs them one after another in this process;
- :class:`LocalExecutor` runs them in a pool of worker processes on this machine, started
  with ``spawn`` (a forked child of a process that has initialized CUDA cannot use it), each
  job with its share of the cores as its torch thread count, so N jobs do not oversubscribe
  the machine;
- :class:`~toolkit.execution.ray_executor.RayExecutor` runs them as Ray tasks, on this
  machine or a cluster.

A job is plain data (a recipe file, overrides, where to write), so it can be sent to another
process or machine, which resolves the recipe there and calls
:func:`toolkit.execution.runner.run`: the same pipeline, the same cache keys. A job that
fails becomes a result with its error; the other jobs go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from toolkit.errors import ToolkitError, UsageError

#: The executors ``toolkit sweep --executor`` knows.
EXECUTORS = ("local", "ray", "serial")


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


class SerialExecutor:
    """Runs the jobs one after another in this process."""

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        for job in jobs:
            yield run_job(job)


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Each of ``jobs`` concurrent jobs' share of the cores (at least one thread).

    Example:
        >>> threads_per_job(2, cores=8), threads_per_job(4, cores=2)
        (4, 1)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


class LocalExecutor:
    """Runs the jobs in ``jobs`` worker processes on this machine (``spawn`` start method).

    Args:
        jobs: how many run at once (default 1).
        threads: torch threads per job (default: the cores divided by ``jobs``); a job's own
            ``threads`` wins.
    """

    def __init__(self, *, jobs: int = 1, threads: int | None = None) -> None:
        if jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {jobs}")
        self.jobs = jobs
        self.threads = threads or threads_per_job(jobs)

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(jobs)), mp_context=context)
        try:
            pending = {pool.submit(run_job, replace(j, threads=j.threads or self.threads)): j for j in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:  # the worker died (killed, out of memory)
                        yield JobResult(job, error=f"the worker process failed: {type(exc).__name__}: {exc}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def make_executor(name: str, *, jobs: int = 1, threads: int | None = None, gpus: float = 0) -> Executor:
    """The executor called ``name`` (:data:`EXECUTORS`); ``gpus`` per run is Ray's alone (the
    local pool and the serial executor run on ``runtime.device``, every run seeing all GPUs)."""
    if gpus and name != "ray":
        raise UsageError(
            f"--gpus reserves GPUs per run through Ray; with --executor {name} every run uses "
            "runtime.device and sees every GPU: drop --gpus, or use --executor ray"
        )
    if name == "local":
        return LocalExecutor(jobs=jobs, threads=threads)
    if name == "serial":
        return SerialExecutor()
    if name == "ray":
        from toolkit.execution.ray_executor import RayExecutor

        return RayExecutor(jobs=jobs, threads=threads, gpus=gpus)
    raise UsageError(f"unknown executor '{name}'; choose one of {', '.join(EXECUTORS)}")
