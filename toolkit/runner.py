"""Run a resolved recipe: call its task and write the run folder.

The folder is written under a temporary name (``.partial-...``) and renamed when complete,
so an interrupted or failed run leaves nothing that looks finished: on failure the partial
folder is removed.

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
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import __version__
from toolkit.errors import RunError, ToolkitError
from toolkit.recipe import ResolvedRecipe

if TYPE_CHECKING:
    from rich.console import Console

    from toolkit.context import Table


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
) -> RunResult:
    """Run ``recipe`` and write its run folder under ``out_dir/<name>/``.

    Args:
        recipe: a recipe from :func:`toolkit.recipe.load_recipe` or :func:`~toolkit.recipe.parse_recipe`.
        out_dir: the parent of the run folders (default ``runs``).
        use_cache: read and write trained models in the artifact cache (``--no-cache``: no).
        cache_dir: the artifact cache (default ``$TOOLKIT_CACHE`` or ``~/.cache/toolkit/cache``).
        console: a rich console for messages and progress bars, or ``None`` for silence.

    Raises:
        UsageError: a problem with the recipe's data or components (exit status 2).
        RunError: the run failed (exit status 1); the original error is its ``__cause__``.
    """
    import torch

    from toolkit import report
    from toolkit.cache import ArtifactCache
    from toolkit.context import RunContext, RunLog
    from toolkit.runtime import resolve_device, seed_everything, set_threads

    runtime = recipe.recipe.runtime
    fingerprints = recipe.fingerprints()
    started = _dt.datetime.now()
    parent = Path(out_dir) / recipe.name
    parent.mkdir(parents=True, exist_ok=True)
    final = _free_name(parent, f"{started:%Y%m%d-%H%M%S}-{fingerprints['run'][:8]}")
    tmp = parent / f".partial-{final.name}"
    tmp.mkdir()
    log = RunLog(tmp / "log.txt", console)
    t0 = time.perf_counter()
    try:
        set_threads(runtime.threads)
        device = resolve_device(runtime.device)
        seed_everything(recipe.seed)
        log.info(
            f"run [bold]{recipe.name}[/bold] ({recipe.task.name}), fingerprint {fingerprints['run'][:12]}, "
            f"device {device}, {torch.get_num_threads()} threads"
        )
        ctx = RunContext(
            recipe,
            device=device,
            cache=ArtifactCache(cache_dir) if use_cache else None,
            log=log,
            console=console,
            folder=tmp,
        )
        task = recipe.task.create()
        result = task.run(ctx)

        with ctx.stage("report"):
            figures_dir = tmp / "figures"
            figures_dir.mkdir()
            pngs = {}
            from toolkit.plots import png_bytes

            for name, fig in result.figures.items():
                pngs[name] = png_bytes(fig)
                (figures_dir / f"{name}.png").write_bytes(pngs[name])
            recipe_toml = recipe.to_toml()
            (tmp / "recipe.toml").write_text(recipe_toml, encoding="utf-8")
            report.write_json(tmp / "metrics.json", result.metrics)
            report.write_json(tmp / "history.json", ctx.history)
        ctx.timings["total"] = time.perf_counter() - t0
        meta = _meta(recipe, ctx, started, device=str(device), threads=torch.get_num_threads())
        report.write_json(tmp / "meta.json", meta)
        (tmp / "report.html").write_text(
            report.render_html(
                title=f"{recipe.name}: {recipe.task.name}",
                meta=meta,
                tables=result.tables,
                figures=pngs,
                metrics=result.metrics,
                recipe_toml=recipe_toml,
            ),
            encoding="utf-8",
        )
        log.info(f"done in {ctx.timings['total']:.1f} s")
        log.close()
        os.replace(tmp, final)
    except BaseException as exc:
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, ToolkitError | KeyboardInterrupt):
            raise
        raise RunError(f"run '{recipe.name}' failed: {type(exc).__name__}: {exc}") from exc
    return RunResult(final, report.jsonable(result.metrics), result.tables, meta)


def _free_name(parent: Path, name: str) -> Path:
    path, n = parent / name, 1
    while path.exists() or (parent / f".partial-{path.name}").exists():
        n += 1
        path = parent / f"{name}-{n}"
    return path


def _meta(
    recipe: ResolvedRecipe, ctx: Any, started: _dt.datetime, *, device: str, threads: int
) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "task": recipe.task.name,
        "description": recipe.recipe.description,
        "recipe_source": recipe.source,
        "command": sys.argv,
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        "fingerprints": ctx.fingerprints,
        "timings": {k: round(v, 4) for k, v in ctx.timings.items()},
        "model_cached": ctx.notes.get("model_cached"),
        "defense_cached": ctx.notes.get("defense_cached"),
        "device": device,
        "threads": threads,
        "versions": versions(),
        "platform": platform.platform(),
        "git": git_state(),
        "components": {
            kind: [
                {"name": c.name, "distribution": c.entry.provider, "target": c.entry.target} for c in comps
            ]
            for kind, comps in {
                "task": [recipe.task],
                "dataset": [recipe.dataset],
                "model": [recipe.model] if recipe.model else [],
                **recipe.components,
            }.items()
            if comps
        },
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
