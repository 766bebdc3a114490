"""Reading data sets that come as pickles, without running code from the file.

Some data sets are distributed as Python pickles (CIFAR-10's ``cifar-10-batches-py``).
Reading one with :func:`pickle.load` runs whatever the file asks for: a crafted batch file
can execute code. :func:`load` unpickles with an allow-list of the few globals such files
need (NumPy arrays and dtypes, and ``_codecs.encode`` that Python 2 pickles use for
bytes); anything else is refused with :class:`~toolkit.errors.DataError` naming the file
and the global it asked for.

Example:
    >>> import io, pickle
    >>> import numpy as np
    >>> blob = pickle.dumps({b"data": np.zeros((2, 3), dtype=np.uint8), b"labels": [0, 1]})
    >>> loads(blob, "demo")[b"labels"]
    [0, 1]
    >>> loads(pickle.dumps(print), "demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    toolkit.errors.DataError: demo: refused to load builtins.print from a data file ...
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from toolkit.errors import DataError

#: The globals a pickled data file may name: NumPy arrays (old and new module paths) and
#: the bytes codec of Python 2 pickles.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }
)


class _Restricted(pickle.Unpickler):
    def __init__(self, fh: Any, where: str) -> None:
        super().__init__(fh, encoding="bytes")
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise DataError(
                f"{self.where}: refused to load {module}.{name} from a data file (only NumPy arrays and "
                "plain values are allowed); the file is not a data file of this data set, or it was "
                "tampered with"
            )
        # NumPy 2 moved numpy.core to numpy._core: a file written by either loads under either
        if module == "numpy.core.multiarray" and _has_core():
            module = "numpy._core.multiarray"
        elif module == "numpy._core.multiarray" and not _has_core():
            module = "numpy.core.multiarray"
        return super().find_class(module, name)


def _has_core() -> bool:
    import importlib.util

    return importlib.util.find_spec("numpy._core") is not None


def _load(fh: Any, where: str) -> Any:
    try:
        return _Restricted(fh, where).load()
    except DataError:
        raise
    except Exception as exc:  # truncated or malformed: say which file
        raise DataError(f"{where}: not a readable pickle ({type(exc).__name__}: {exc})") from exc


def loads(data: bytes, where: str) -> Any:
    """Unpickle ``data`` with the allow-list; ``where`` names the source in errors."""
    return _load(io.BytesIO(data), where)


def load(path: str | Path) -> Any:
    """Unpickle the file at ``path`` with the allow-list (read as a stream, not copied)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the load
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from exc
    with fh:
        return _load(fh, str(path))
