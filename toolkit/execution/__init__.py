"""How a recipe runs: the pipeline of stages, the task's context, the artifact cache, the
run folder and the executors.

- :mod:`~toolkit.execution.pipeline`: the stages ``data -> poison -> train -> defend`` as
  typed values, cached by fingerprint.
- :mod:`~toolkit.execution.context`: the thin view of the pipeline a task gets.
- :mod:`~toolkit.execution.cache`: the artifact store (safetensors, atomic writes);
  :mod:`~toolkit.execution.streamed`: one large tensor in it, written by chunks, read
  memory-mapped; :mod:`~toolkit.execution.entryfile`: the entry file format both share.
- :mod:`~toolkit.execution.runfolder`: the run folder, written atomically;
  :mod:`~toolkit.execution.runread`: the one reader of finished run folders (compare,
  report, track and sweep summaries), with one error for a missing or corrupt file.
- :mod:`~toolkit.execution.runner`: :func:`run`, one recipe from start to finish.
- :mod:`~toolkit.execution.executor`: the seam for running many recipes (sweeps);
  :mod:`~toolkit.execution.jobs`: a job, its result and one job run here, which every
  executor (local, serial, :mod:`~toolkit.execution.ray_executor`) builds on.

Importing this package imports neither torch nor the submodules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def run(*args: Any, **kwargs: Any) -> Any:
    """:func:`toolkit.execution.runner.run`."""
    from toolkit.execution.runner import run as _run

    return _run(*args, **kwargs)
