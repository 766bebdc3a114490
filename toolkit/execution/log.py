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


class RunLog:
    """Where a run reports: timestamped lines on the console and in ``log.txt``, rich
    progress bars on the console, and the seconds spent in each stage. Messages and progress
    descriptions are text, never markup: names, paths and sentences from the user are shown
    as they are."""

    def __init__(self, path: Path | None, console: Console | None) -> None:
        self.path = path
        self.console = console
        self.timings: dict[str, float] = {}
        self._fh = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115

    def info(self, message: str, *, style: str | None = None) -> None:
        """One line of the log, as text: never read as markup (a path, a sentence or a name
        with square brackets is printed as it is), in ``style`` on the console (``"yellow"``
        for a warning), plain in ``log.txt``."""
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        if self._fh is not None:
            self._fh.write(f"{stamp} {message}\n")
            self._fh.flush()
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text.assemble((stamp, "dim"), " ", (message, style or "")), highlight=False)

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
            TextColumn("{task.description}", markup=False),
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
