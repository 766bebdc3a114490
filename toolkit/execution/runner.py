"""Run a resolved recipe: build its pipeline, call its task, write the run folder.

Example:
    >>> from toolkit.recipe import parse_recipe
    >>> import tempfile
    >>> recipe = parse_recipe({"task": "ood", "name": "demo", "seed": 0,
    ...     "dataset": {"name": "synthetic", "holdout": ["c3"]}, "model": {"name": "mlp"},
    ...     "train": {"epochs": 2}, "detectors": [{"name": "msp"}]})
    >>> result = run(recipe, out_dir=tempfile.mkdtemp(), use_cache=False, console=None)
    >>> sorted(p.name for p in result.path.iterdir())[:3]
    ['figures', 'history.json', 'log.txt']
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import RunError, Terminated, ToolkitError
from toolkit.interrupt import check_stop
from toolkit.recipe import Component, ResolvedRecipe
from toolkit.version import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.execution.runfolder import RunFolder
    from toolkit.results import Table, TaskResult


@dataclass
class RunResult:
    """A finished run: its folder and what it measured."""

    path: Path
    metrics: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def run(
    recipe: ResolvedRecipe,
    *,
    out_dir: str | Path = "runs",
    use_cache: bool = True,
    cache_dir: str | Path | None = None,
    console: Console | None = None,
    run_dir: str | Path | None = None,
) -> RunResult:
    """Run ``recipe`` and write its run folder under ``out_dir/<name>/``.

    Args:
        recipe: a recipe from :func:`toolkit.recipe.load_recipe` or :func:`~toolkit.recipe.parse_recipe`.
        out_dir: the parent of the run folders (default ``runs``).
        use_cache: read and write trained models in the artifact cache (``--no-cache``: no).
        cache_dir: the artifact cache (default ``$TOOLKIT_CACHE`` or ``~/.cache/toolkit/cache``).
        console: a rich console for messages and progress bars, or ``None`` for silence.
        run_dir: the run folder itself (a sweep's point), instead of a new folder under
            ``out_dir/<name>/``; it must not exist yet.

    Raises:
        UsageError: a problem with the recipe's data or components (exit status 2).
        RunError: the run failed (exit status 1); the message names the component that
            raised, with its distribution; the original error is its ``__cause__``.

    Under ``torchrun`` every process calls this: they join one process group for the run
    (:mod:`toolkit.execution.distributed`) and train data-parallel; rank 0 writes the run
    folder and the cache and speaks on ``console``, the others stay silent and write into a
    temporary folder (their result's ``path`` is gone once this returns).
    """
    from toolkit.execution import distributed

    if distributed.launched() and not distributed.active():
        with distributed.session(recipe.recipe.runtime.device) as scratch:
            if scratch is None:  # rank 0
                return run(recipe, out_dir=out_dir, use_cache=use_cache, cache_dir=cache_dir,
                           console=console, run_dir=run_dir)  # fmt: skip
            return run(recipe, out_dir=scratch, use_cache=False, cache_dir=cache_dir, console=None)
    from toolkit.execution.log import RunLog
    from toolkit.execution.runfolder import RunFolder

    started = _dt.datetime.now()
    folder = RunFolder(out_dir, recipe.name, recipe.fingerprints()["run"], started, final=run_dir)
    log = RunLog(folder.path / "log.txt", console)
    try:
        result, meta = _execute(recipe, folder, log, started, use_cache=use_cache, cache_dir=cache_dir)
        check_stop()  # a signal whose exception was swallowed on the way still ends the run
        log.close()
        path = folder.finish()
    except BaseException as exc:
        log.close()
        folder.abort()
        raised = _as_raised(exc, recipe)
        if raised is exc:
            raise
        raise raised from exc
    from toolkit import report

    return RunResult(path, report.jsonable(result.metrics), result.tables, meta)


def _as_raised(exc: BaseException, recipe: ResolvedRecipe) -> BaseException:
    """What a failed run raises: usage errors and interrupts as they are, a diagnosed
    failure with the run's name, anything else as a RunError naming the component."""
    if isinstance(exc, RunError):  # a failure the toolkit diagnosed (training diverged, say)
        return RunError(f"run '{recipe.name}' failed: {exc}")
    if isinstance(exc, ToolkitError | KeyboardInterrupt | Terminated):
        return exc
    return RunError(f"run '{recipe.name}' failed{blame(exc, recipe)}: {type(exc).__name__}: {exc}")


def _execute(
    recipe: ResolvedRecipe,
    folder: RunFolder,
    log: RunLog,
    started: _dt.datetime,
    *,
    use_cache: bool,
    cache_dir: str | Path | None,
) -> tuple[TaskResult, dict[str, Any]]:
    """Set up the machine, run the task through the pipeline, write the run folder's files."""
    import torch

    from toolkit.execution import distributed
    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.context import TaskContext
    from toolkit.execution.pipeline import Pipeline
    from toolkit.runtime import resolve_device, seed_everything, set_threads

    t0 = time.perf_counter()
    set_threads(recipe.recipe.runtime.threads)
    device = distributed.place(resolve_device(recipe.recipe.runtime.device))
    seed_everything(recipe.seed)
    cache = ArtifactCache(cache_dir) if use_cache else None
    pipeline = Pipeline(recipe, device=device, cache=cache, log=log)
    log.info(
        f"run {recipe.name} ({recipe.task.name}), fingerprint "
        f"{pipeline.fingerprints['run'][:12]}, device {device}, {torch.get_num_threads()} threads"
        f"{distributed.note()}"
    )
    result = recipe.task.create().run(TaskContext(pipeline, folder=folder.path))
    with log.stage("report"):
        recipe_toml = recipe.to_toml()
        trained = pipeline._trained
        pngs = folder.write_result(
            result, recipe_toml=recipe_toml, history=trained.history if trained else []
        )
    log.timings["total"] = time.perf_counter() - t0
    meta = _meta(recipe, pipeline, started, device=str(device), threads=torch.get_num_threads())
    _write_report(folder.path, recipe, result, meta, pngs, recipe_toml)
    log.info(f"done in {log.timings['total']:.1f} s")
    return result, meta


def _write_report(
    path: Path, recipe: ResolvedRecipe, result: Any, meta: dict[str, Any], pngs: dict[str, bytes], toml: str
) -> None:
    from toolkit import report

    report.write_json(path / "meta.json", meta)
    html = report.render_html(
        title=f"{recipe.name}: {recipe.task.name}",
        meta=meta,
        tables=result.tables,
        figures=pngs,
        metrics=result.metrics,
        recipe_toml=toml,
    )
    (path / "report.html").write_text(html, encoding="utf-8")


def blame(exc: BaseException, recipe: ResolvedRecipe) -> str:
    """`` in <kind> '<name>' (<distribution>, <target>)`` for the innermost component whose
    code raised ``exc`` (read from the traceback), or ``""`` if none of them did.

    A frame belongs to a component when it runs in the component's module and in its class
    (a method of it, or of a class it inherits from) or its function; where one module
    defines several components, the frame's ``self`` tells them apart.
    """
    components = [c for comps in (*recipe.components.values(), [recipe.task]) for c in comps]
    culprit = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        found = _owner(frame, components)
        if found is not None:
            culprit = found
    if culprit is None:
        return ""
    from toolkit.kinds import singular

    return f" in {singular(culprit.kind)} '{culprit.name}' ({culprit.entry.provider}, {culprit.entry.target})"


def _owner(frame: Any, components: list[Component]) -> Component | None:
    """The component a traceback frame runs code of, if any."""
    owner = frame.f_locals.get("self")
    for c in components:  # a method of the component's class, wherever it is defined
        factory = c.entry.load()
        if owner is not None and isinstance(factory, type) and type(owner) is factory:
            return c
    module = frame.f_globals.get("__name__", "")
    here = [c for c in components if c.entry.module == module]
    if len({c.entry for c in here}) <= 1:
        return here[0] if here else None
    top = getattr(frame.f_code, "co_qualname", frame.f_code.co_name).split(".")[0]  # 3.10: co_name
    for c in here:
        factory = c.entry.load()
        mine = owner is not None and isinstance(factory, type) and isinstance(owner, factory)
        if mine or c.entry.attr.split(".")[0] == top:
            return c
    return None


def _meta(
    recipe: ResolvedRecipe, pipeline: Pipeline, started: _dt.datetime, *, device: str, threads: int
) -> dict[str, Any]:
    from toolkit.execution import distributed

    trained, defended = pipeline._trained, pipeline._defended
    loops = recipe.family("defenses", "train") + recipe.family("defenses", "filter")
    return {
        "name": recipe.name,
        "task": recipe.task.name,
        "description": recipe.recipe.description,
        "recipe_source": recipe.source,
        "command": sys.argv,
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        "fingerprints": pipeline.fingerprints,
        "data_sha256": pipeline.data_digest,
        "timings": {k: round(v, 4) for k, v in pipeline.log.timings.items()},
        "model_cached": trained.cached if trained else None,
        "defense_cached": defended.cached if defended is not None and loops else None,
        "device": device,
        "threads": threads,
        "versions": versions(),
        "platform": platform.platform(),
        "git": git_state(),
        "components": {
            kind: [
                {
                    "name": c.name,
                    "distribution": c.entry.provider,
                    "target": c.entry.target,
                    "family": c.family,
                }
                for c in comps
            ]
            for kind, comps in {"task": [recipe.task], **recipe.components}.items()
            if comps
        },
        **distributed.describe(),  # under torchrun only: the world size and backend
    }


def versions() -> dict[str, str | None]:
    """Versions of Python, the toolkit and the libraries its numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version(), "toolkit": __version__}
    for dist in ("torch", "torchvision", "numpy", "scikit-learn", "pydantic", "safetensors"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def git_state() -> dict[str, Any]:
    """The commit of the toolkit's source checkout, if it is one, and whether it is modified."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
