"""The run folder: written under a temporary name, renamed when complete.

``runs/<name>/<timestamp>-<fingerprint>/`` holds ``recipe.toml`` (resolved), ``meta.json``,
``metrics.json``, ``history.json``, ``tables.json`` (the result tables, for ``toolkit
report``), ``figures/*.png``, ``samples/*.npz`` (per-sample columns), ``report.html`` and
``log.txt``. Until it is complete it is
``.partial-<timestamp>-<fingerprint>``; a failed run removes it, and ``runs/<name>/`` too
if nothing else is in it, so nothing half-written looks finished. A run killed outright
(SIGKILL, a power cut) cannot clean up: its partial folder names its owner (``.owner``: host
and process id), and the next run of the same recipe on that host removes it once that
process is gone.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import report
from toolkit.results import Table

if TYPE_CHECKING:
    import numpy as np

    from toolkit.results import TaskResult


class RunFolder:
    """A run folder being written.

    Args:
        out_dir: the parent of the runs (``runs``).
        name: the recipe's name.
        fingerprint: the run stage's fingerprint (its first 8 characters name the folder).
        started: when the run started.
        final: the run folder itself, instead of a new name under ``out_dir/name`` (a
            sweep's point); it must not exist yet.
    """

    def __init__(
        self,
        out_dir: str | Path,
        name: str,
        fingerprint: str,
        started: _dt.datetime,
        *,
        final: str | Path | None = None,
    ) -> None:
        self.parent = Path(out_dir) / name if final is None else Path(final).parent
        try:
            created = not self.parent.exists()  # a name too long for the system raises here
            self.parent.mkdir(parents=True, exist_ok=True)
            _remove_abandoned(self.parent)  # first: a killed run of this very folder left its partial
            if final is None:
                self.final = _free_name(self.parent, f"{started:%Y%m%d-%H%M%S}-{fingerprint[:8]}")
            elif Path(final).exists():
                raise FileExistsError(17, "a run folder of that name exists", str(final))
            else:
                self.final = Path(final)
            self.path = self.parent / f".partial-{self.final.name}"
            self.path.mkdir()
            (self.path / ".owner").write_text(json.dumps(_owner()), encoding="utf-8")
        except OSError as exc:
            from toolkit.errors import UsageError

            raise UsageError(
                f"--out {out_dir}: cannot create the run folder there ({exc.strerror or exc}); "
                "name a folder you can write to"
            ) from exc
        self._created_parent = created

    def write_result(self, result: TaskResult, *, recipe_toml: str, history: Any) -> dict[str, bytes]:
        """Figures, per-sample columns, the resolved recipe, metrics and history; returns the PNGs."""
        from toolkit.plots import png_bytes

        figures = self.path / "figures"
        figures.mkdir()
        pngs = {}
        for name, fig in result.figures.items():
            pngs[name] = png_bytes(fig)
            (figures / f"{name}.png").write_bytes(pngs[name])
        if result.samples:
            samples = self.path / "samples"
            samples.mkdir()
            for name, columns in result.samples.items():
                write_samples(samples / f"{name}.npz", columns)
        for name, text in result.files.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or name in _RESERVED:
                raise ValueError(f"a task's file name must be a plain, unreserved file name, not {name!r}")
            (self.path / name).write_text(text, encoding="utf-8")
        (self.path / "recipe.toml").write_text(recipe_toml, encoding="utf-8")
        report.write_json(self.path / "metrics.json", result.metrics)
        report.write_json(self.path / "history.json", history)
        tables = [{"title": t.title, "columns": t.columns, "rows": t.rows} for t in result.tables]
        report.write_json(self.path / "tables.json", tables)  # for toolkit report
        return pngs

    def finish(self) -> Path:
        """Rename the folder to its final name; returns it."""
        (self.path / ".owner").unlink(missing_ok=True)
        os.replace(self.path, self.final)
        return self.final

    def abort(self) -> None:
        """Remove what was written (and the recipe's folder if this run created it empty)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._created_parent:
            with contextlib.suppress(OSError):
                self.parent.rmdir()  # only when empty


#: Files the run folder writes itself; a task's ``files`` may not take these names.
_RESERVED = {
    "recipe.toml",
    "metrics.json",
    "history.json",
    "tables.json",
    "report.html",
    "meta.json",
    "log.txt",
}


def rerender(folder: str | Path) -> tuple[Path, list[Table]]:
    """Write a finished run folder's ``report.html`` again from its stored files (metrics,
    tables, figures, recipe and metadata); returns the report's path and the tables.

    Raises:
        UsageError: the folder is not a finished run folder, or one of its files is not
            what ``toolkit run`` wrote (see :mod:`toolkit.execution.runread`); nothing is
            written then.
    """
    from toolkit.execution.runread import load_run, read_figures, read_tables

    stored = load_run(Path(folder))
    tables = read_tables(stored.folder)
    html = report.render_html(
        title=f"{stored.meta.get('name', stored.folder.parent.name)}: {stored.meta.get('task', '')}",
        meta=stored.meta,
        tables=tables,
        figures=read_figures(stored.folder),
        metrics=stored.metrics,
        recipe_toml=stored.recipe_toml,
    )
    report.replace_file(stored.folder / "report.html", html)  # replaces a link, never writes through it
    return stored.folder / "report.html", tables


def write_samples(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Per-sample columns as one ``.npz`` (NumPy arrays of one length, no pickled objects)."""
    import numpy as np

    arrays = {k: np.asarray(v) for k, v in columns.items()}
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the columns of {path.name} differ in length: {lengths}")
    for k, v in arrays.items():
        if v.dtype == object:
            raise ValueError(f"column {k!r} of {path.name} holds Python objects; use numbers or strings")
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def read_samples(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a ``samples/*.npz`` file (loaded without pickle).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.npz"
        >>> write_samples(p, {"y": np.array([0, 1]), "score": np.array([0.5, 0.25])})
        >>> read_samples(p)["score"].tolist()
        [0.5, 0.25]
    """
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _free_name(parent: Path, name: str) -> Path:
    path, n = parent / name, 1
    while path.exists() or (parent / f".partial-{path.name}").exists():
        n += 1
        path = parent / f"{name}-{n}"
    return path


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _remove_abandoned(parent: Path) -> None:
    """Remove partial folders of runs on this host whose process no longer exists."""
    me = _owner()
    for path in parent.glob(".partial-*"):
        try:
            owner = json.loads((path / ".owner").read_text(encoding="utf-8"))
            pid = int(owner["pid"])
            if owner.get("host") != me["host"] or pid == me["pid"] or _alive(pid):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no readable owner: not ours to judge
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: keep it
    return True
