"""How a recipe runs: the pipeline of stages, the task's context, the artifact cache, the
run folder and the executors.

- :mod:`~toolkit.execution.pipeline`: the stages ``data -> poison -> train -> defend`` as
  typed values, cached by fingerprint.
- :mod:`~toolkit.execution.context`: the thin view of the pipeline a task gets.
- :mod:`~toolkit.execution.cache`: the artifact store (safetensors, atomic writes).
- :mod:`~toolkit.execution.runfolder`: the run folder, written atomically.
- :mod:`~toolkit.execution.runner`: :func:`run`, one recipe from start to finish.
- :mod:`~toolkit.execution.executor`: the seam for running many recipes (sweeps).

Importing this package imports neither torch nor the submodules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def run(*args: Any, **kwargs: Any) -> Any:
    """:func:`toolkit.execution.runner.run`."""
    from toolkit.execution.runner import run as _run

    return _run(*args, **kwargs)
