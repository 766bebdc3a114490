"""The entry point of the ``toolkit`` console script: errors, exit statuses and signals.

Errors print one readable message and exit with status 2 for bad usage or 1 for a failed
run; ``--debug`` (anywhere on the command line) shows the traceback too. SIGINT exits with
130 and SIGTERM with 143, after the run has removed what it had half-written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import typer

from toolkit.cli.base import app, get_console
from toolkit.errors import Terminated, ToolkitError, UsageError

#: What an interrupted command says before it exits.
INTERRUPTED = "interrupted ({}): nothing half-written was kept"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``toolkit`` console script.

    Args:
        argv: the command line after ``toolkit`` (default ``sys.argv[1:]``).

    Raises:
        SystemExit: always, with the command's exit status.
    """
    import warnings

    warnings.formatwarning = _format_warning
    _on_signals()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("TOOLKIT_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    from toolkit.interrupt import request_stop

    request_stop(None)  # a stop left by an earlier call in this process is not this call's
    sys.exit(_call(args, debug))


def _call(args: list[str], debug: bool) -> int:
    """Run the app on ``args``; returns the exit status, each error reported once."""
    try:
        result = app(args=args, prog_name="toolkit", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == 130:  # typer turns Ctrl-C into Exit(130), which click returns here
            get_console(stderr=True).print(INTERRUPTED.format("Ctrl-C"))
        return code
    except ToolkitError as exc:
        _report(exc, debug)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        get_console(stderr=True).print(INTERRUPTED.format("Ctrl-C"))
        return 130
    except Terminated:
        get_console(stderr=True).print(INTERRUPTED.format("SIGTERM"))
        return Terminated.exit_code
    except Exception as exc:
        exit_code = getattr(exc, "exit_code", None)
        if hasattr(exc, "show") and isinstance(exit_code, int):
            exc.show()  # a command-line usage error of click (or typer's copy of it)
            return exit_code
        _report(exc, debug, prefix="internal error")  # a bug: say so plainly
        return 1


def _report(exc: BaseException, debug: bool, prefix: str = "error") -> None:
    console = get_console(stderr=True)
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    from rich.text import Text

    from toolkit.execution.distributed import rank_label

    prefix += rank_label()  # under torchrun, which process says it
    console.print(Text.assemble((f"{prefix}:", "bold red"), f" {exc}"), soft_wrap=True)
    if not debug and not isinstance(exc, UsageError):
        console.print("run again with --debug for the traceback", style="dim")


def _format_warning(message: Any, category: Any, filename: str, lineno: int, line: Any = None) -> str:
    from toolkit.errors import ToolkitWarning

    if isinstance(category, type) and issubclass(category, ToolkitWarning):
        return f"warning: {message}\n"
    return f"{filename}:{lineno}: {category.__name__}: {message}\n"


def _on_signals() -> None:
    """SIGTERM raises :class:`~toolkit.errors.Terminated` and SIGINT ``KeyboardInterrupt``
    where the program is, so a run removes its partial folder, then exits with 143 or 130.

    The stop is also remembered (:func:`toolkit.interrupt.request_stop`) and raised again by
    the training loop, every inference batch and the run before it finishes, in case the
    first exception was swallowed: a signal can land in a finalizer, where Python ignores
    exceptions and prints "Exception ignored ... Traceback" instead. That report is
    silenced for these two exceptions only, since the remembered stop still ends the run.
    """
    import signal

    def handler(signum: int, frame: Any) -> None:
        from toolkit.interrupt import request_stop

        exc: BaseException = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        request_stop(exc)
        raise exc

    default_hook = sys.unraisablehook

    def unraisable(report: Any) -> None:
        if not isinstance(report.exc_value, KeyboardInterrupt | Terminated):
            default_hook(report)

    with contextlib.suppress(ValueError):  # not the main thread (an embedding program): leave it
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        sys.unraisablehook = unraisable
