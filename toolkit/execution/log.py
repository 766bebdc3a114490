"""Messages and progress bars of a run: to the console and to ``log.txt``."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def plain(message: str) -> str:
    """``message`` without its rich markup (as written, if it is not valid markup).

    Example:
        >>> plain("data [bold]digits[/bold]: 1 test")
        'data digits: 1 test'
    """
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        return Text.from_markup(message).plain
    except MarkupError:
        return message


class RunLog:
    """Where a run reports: timestamped lines on the console and in ``log.txt``, rich
    progress bars on the console, and the seconds spent in each stage."""

    def __init__(self, path: Path | None, console: Console | None) -> None:
        self.path = path
        self.console = console
        self.timings: dict[str, float] = {}
        self._fh = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115

    def info(self, message: str) -> None:
        """One line of the log: with its markup rendered on the console, as plain text in
        ``log.txt``."""
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        if self._fh is not None:
            self._fh.write(f"{stamp} {plain(message)}\n")
            self._fh.flush()
        if self.console is not None:
            self.console.print(f"[dim]{stamp}[/dim] {message}", highlight=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; the seconds add up in ``timings[name]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started

    @contextmanager
    def progress(self) -> Iterator[Progress | None]:
        """A rich progress display on the console (``None`` when there is no console)."""
        if self.console is None:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            yield bar

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
