"""Stops that a signal asked for, remembered until a long loop honours them.

The command line's SIGINT and SIGTERM handlers raise where the program is and also call
:func:`request_stop`. If that first exception is swallowed (a signal can land in a
finalizer, where Python ignores exceptions), the training loop, every inference batch and
the run itself call :func:`check_stop` and raise it again. Torch-free, so the command line
can clear a stop without importing torch.
"""

from __future__ import annotations

#: The stop a signal asked for and nobody has raised since.
_stop: BaseException | None = None


def request_stop(exc: BaseException | None) -> None:
    """Remember that the run must stop with ``exc`` (``None`` forgets a stop)."""
    global _stop
    _stop = exc


def check_stop() -> None:
    """Raise the stop a signal asked for, if any (long loops call this once per step)."""
    global _stop
    if _stop is not None:
        exc, _stop = _stop, None
        raise exc
