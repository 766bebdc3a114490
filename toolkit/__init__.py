"""toolkit: a plugin-based research toolkit for trustworthy machine learning on PyTorch.

One TOML recipe names a data set, a model and the attacks, defenses, detectors and
explainers to apply; ``toolkit run recipe.toml`` runs it and writes a run folder with
metrics, figures and a self-contained report. From Python, :func:`toolkit.run` does the
same, on your own model object if you give one, and :func:`toolkit.load_run` reads a
finished run back (:mod:`toolkit.api`).

Importing this package is cheap: it does not import torch. The heavy parts are imported
when a run needs them.
"""

from typing import Any

from toolkit.errors import DataError, RecipeError, RunError, ToolkitError, UsageError
from toolkit.version import __version__

__all__ = [
    "DataError",
    "RecipeError",
    "Run",
    "RunError",
    "ToolkitError",
    "UsageError",
    "__version__",
    "load_run",
    "run",
]


def __getattr__(name: str) -> Any:
    """``run``, ``load_run`` and ``Run`` from :mod:`toolkit.api`, imported on first use."""
    if name in ("run", "load_run", "Run"):
        from toolkit import api

        return getattr(api, name)
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
