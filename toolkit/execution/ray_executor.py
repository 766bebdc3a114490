"""Run jobs as Ray tasks, on this machine or on a Ray cluster (the ``ray`` extra).

``ray.init()`` connects to the cluster at ``$RAY_ADDRESS`` when it is set (``ray://head:10001``
through Ray Client, or ``auto`` on a cluster's node), and otherwise starts a local instance
with ``jobs x threads`` CPUs, so at most ``jobs`` runs share the machine. Each run is a Ray
task asking for ``threads`` CPUs (its torch thread count) and ``gpus`` GPUs.

A worker may run on another machine, so it writes its run folder into a temporary folder of
its own, packs it (a gzipped tar) and returns it; this process unpacks it where the job
said, under a temporary name that is renamed when complete (as every run folder is). The
artifact cache is the worker's ``$TOOLKIT_CACHE``: point it at shared storage to share
trained models between nodes. ``TOOLKIT_CACHE``, ``TOOLKIT_DATA`` and the Hugging Face
cache variables set here are passed on to the workers.
"""

from __future__ import annotations

import io
import math
import os
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from toolkit.errors import UsageError
from toolkit.execution.jobs import Job, JobResult, run_job, threads_per_job

#: Environment variables a worker gets from this process.
PASSED_ON = ("TOOLKIT_CACHE", "TOOLKIT_DATA", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def run_packed(job: Job) -> tuple[JobResult, bytes | None]:
    """Run ``job`` in a temporary folder; its result and the run folder as a gzipped tar."""
    with tempfile.TemporaryDirectory(prefix="toolkit-ray-") as tmp:
        here = replace(job, run_dir=str(Path(tmp) / "run")) if job.run_dir else replace(job, out_dir=tmp)
        result = run_job(here)
        if result.path is None:
            return replace(result, job=job), None
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(result.path, arcname=str(result.path.relative_to(tmp)))
        return JobResult(job, None, result.metrics, None, result.seconds), buffer.getvalue()


def unpack(job: Job, packed: bytes) -> Path:
    """Unpack a worker's run folder where ``job`` says; returns the run folder."""
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=_parent(job)) as tmp:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
            members = tar.getmembers()
            for m in members:  # our own workers wrote it; still refuse anything but plain files
                if not (m.isfile() or m.isdir()) or m.name.startswith(("/", "..")) or "/../" in m.name:
                    raise ValueError(f"refusing the packed run folder: it holds {m.name!r}")
            safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **safe)
        top = Path(tmp) / members[0].name.split("/")[0]
        source = top if job.run_dir else top / os.listdir(top)[0]
        target = Path(job.run_dir) if job.run_dir else Path(job.out_dir) / top.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    return target


def _parent(job: Job) -> str:
    parent = Path(job.run_dir).parent if job.run_dir else Path(job.out_dir)
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent)


def _check_gpus(gpus: float, *, local: bool) -> None:
    """Raise :class:`UsageError` for a GPU count Ray refuses (negative, or above 1 and not
    whole), or, on a local instance, one above this machine's GPUs (the run would wait for
    them forever)."""
    if gpus < 0:
        raise UsageError(f"--gpus must be 0 or more, not {gpus}")
    if gpus > 1 and gpus != int(gpus):
        raise UsageError(
            f"--gpus {gpus:g}: above 1, a run takes whole GPUs (Ray's rule); use {math.ceil(gpus)}"
        )
    if local and gpus > 0:
        import torch

        have = torch.cuda.device_count()
        if gpus > have:
            raise UsageError(
                f"--gpus {gpus:g}: each run asks for {gpus:g} GPU{'s' if gpus > 1 else ''} but this "
                f"machine has {have}; lower --gpus, or point RAY_ADDRESS at a cluster with GPUs"
            )


class RayExecutor:
    """Runs the jobs as Ray tasks.

    Args:
        jobs: runs at once on a local instance (default 1); on a cluster, the most tasks in
            flight (default: as many as the cluster schedules).
        threads: CPUs (torch threads) per run (default: this machine's cores / ``jobs``).
        gpus: GPUs per run (default 0).
        address: the cluster (default ``$RAY_ADDRESS``; neither: a local instance).
    """

    def __init__(
        self,
        *,
        jobs: int | None = None,
        threads: int | None = None,
        gpus: float = 0,
        address: str | None = None,
    ) -> None:
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {jobs}")
        try:
            import ray  # noqa: F401 (checked here, before a sweep creates its folder)
        except ImportError as exc:
            raise UsageError(
                'the ray executor needs Ray: pip install "trustworthy-ml-toolkit[distributed]"'
            ) from exc
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        _check_gpus(gpus, local=not self.address)
        self.jobs = jobs
        self.threads = threads or threads_per_job(jobs or 1)
        self.gpus = gpus

    def _init(self) -> bool:
        """Start or join Ray; whether this call started it (and so shuts it down)."""
        import ray

        if ray.is_initialized():
            return False
        env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
        options: dict[str, Any] = {"log_to_driver": False, "runtime_env": {"env_vars": env}}
        if self.address:
            ray.init(address=self.address, **options)
        else:
            cpus = (self.jobs or 1) * self.threads
            ray.init(num_cpus=cpus, include_dashboard=False, **options)
        return True

    def map(self, jobs: Sequence[Job]) -> Iterator[JobResult]:
        if not jobs:
            return
        started = self._init()
        import ray

        task = ray.remote(num_cpus=self.threads, num_gpus=self.gpus, max_retries=0)(run_packed)
        waiting = [replace(j, threads=j.threads or self.threads) for j in jobs]
        pending: dict[Any, Job] = {}
        limit = self.jobs if self.jobs is not None else len(jobs)
        try:
            while waiting or pending:
                while waiting and len(pending) < limit:
                    job = waiting.pop(0)
                    pending[task.remote(job)] = job
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                yield self._collect(job, done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()

    @staticmethod
    def _collect(job: Job, ref: Any) -> JobResult:
        import ray

        try:
            result, packed = ray.get(ref)
        except Exception as exc:  # the task or its worker died
            return JobResult(job, error=f"the Ray task failed: {type(exc).__name__}: {exc}")
        if packed is not None:
            try:
                result.path = unpack(job, packed)
            except (OSError, ValueError, tarfile.TarError) as exc:
                result.error = f"could not unpack the run folder: {exc}"
        return result
