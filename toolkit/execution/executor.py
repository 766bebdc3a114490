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
fails becomes a result with its error; the other jobs go on. Jobs, their results and
:func:`run_job` live in :mod:`toolkit.execution.jobs`, which both this module and the Ray
executor import (they are offered here too); only :func:`make_executor` imports the Ray
executor, on demand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from toolkit.errors import UsageError
from toolkit.execution.jobs import Executor, Job, JobResult, run_job, threads_per_job

__all__ = [
    "EXECUTORS",
    "Executor",
    "Job",
    "JobResult",
    "LocalExecutor",
    "SerialExecutor",
    "make_executor",
    "run_job",
    "threads_per_job",
]

#: The executors ``toolkit sweep --executor`` knows.
EXECUTORS = ("local", "ray", "serial")


class SerialExecutor:
    """Runs the jobs one after another in this process."""

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        for job in jobs:
            yield run_job(job)


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
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1, not {threads}")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
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
