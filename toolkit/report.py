"""The run folder: metrics, figures, the resolved recipe, metadata and a self-contained report.

Layout of ``runs/<name>/<timestamp>-<fingerprint>/``::

    recipe.toml     the resolved recipe (every default filled in)
    meta.json       versions, git commit, fingerprints, timings, device
    metrics.json    the task's metrics
    history.json    per-epoch training history
    figures/*.png   the task's figures
    report.html     all of the above in one file, figures embedded
    log.txt         the run's messages
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolkit.results import Table


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy and torch scalars become Python numbers, NaN becomes ``null``."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):
        return jsonable(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    return str(obj)


def write_json(path: Path, obj: Any) -> None:
    replace_file(path, json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n")


def replace_file(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file renamed onto it: a
    symbolic link at ``path`` is replaced by the file, never written through, and a reader
    never sees half a file. The file gets the permissions a new file would."""
    import os
    import tempfile

    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fmt(value: Any) -> str:
    """A table cell: floats with 4 decimals (``nan``, ``inf``, ``-inf`` as such), the rest as text.

    Example:
        >>> fmt(0.5), fmt(float("inf")), fmt(float("-inf")), fmt(float("nan")), fmt("a")
        ('0.5000', 'inf', '-inf', 'nan', 'a')
    """
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as ``{"detectors.msp.auroc": 0.9, ...}``; lists are kept as values."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde;
padding-bottom:.2rem}.sub{color:#5a6172}table{border-collapse:collapse;margin:.6rem 0}
th,td{border:1px solid #d6d9e0;padding:.3rem .6rem;text-align:right}th{background:#f1f3f7}
td:first-child,th:first-child{text-align:left}.figs{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0;border:1px solid #e3e5ea;padding:.5rem;border-radius:6px;background:#fff}
figcaption{color:#5a6172;font-size:.85rem;text-align:center}img{max-width:100%;height:auto}
pre{background:#f6f7f9;padding:.8rem;overflow:auto;font-size:.8rem;border-radius:6px}
.kv td{text-align:left}
"""


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return f"<h3>{html.escape(table.title)}</h3><table><tr>{head}</tr>{body}</table>"


def render_html(
    *,
    title: str,
    meta: Mapping[str, Any],
    tables: Sequence[Table],
    figures: Mapping[str, bytes],
    metrics: Mapping[str, Any],
    recipe_toml: str,
    facts: Sequence[tuple[str, Any]] | None = None,
) -> str:
    """A self-contained HTML report: tables, embedded PNG figures, metrics, recipe and metadata.

    ``facts`` are the rows of the table under the title (default: a run's task, recipe,
    fingerprint, device, model, times and versions, read from ``meta``)."""
    figs = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, png in figures.items()
    )
    summary_rows = list(facts) if facts is not None else _run_facts(meta)
    summary = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary_rows
    )
    return _page(title, meta, tables, figs, summary, metrics, recipe_toml)


def _run_facts(meta: Mapping[str, Any]) -> list[tuple[str, Any]]:
    timings = meta.get("timings", {})
    return [
        ("task", meta.get("task")),
        ("recipe", meta.get("recipe_source")),
        ("fingerprint", meta.get("fingerprints", {}).get("run", "")[:16]),
        ("device", f"{meta.get('device')} ({meta.get('threads')} threads)"),
        ("model", "reused from cache" if meta.get("model_cached") else "trained in this run"),
        *(
            [("defense", "reused from cache" if meta.get("defense_cached") else "trained in this run")]
            if meta.get("defense_cached") is not None
            else []
        ),
        ("time", ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())),
        ("started", meta.get("started")),
        (
            "toolkit",
            f"{meta.get('versions', {}).get('toolkit')} (git {meta.get('git', {}).get('commit') or 'n/a'})",
        ),
    ]


def _page(
    title: str,
    meta: Mapping[str, Any],
    tables: Sequence[Table],
    figs: str,
    summary: str,
    metrics: Mapping[str, Any],
    recipe_toml: str,
) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(str(meta.get("description") or ""))}</p>
<table class="kv">{summary}</table>
<h2>Results</h2>{"".join(_table_html(t) for t in tables)}
<h2>Figures</h2><div class="figs">{figs}</div>
<h2>Metrics</h2><pre>{html.escape(json.dumps(jsonable(metrics), indent=2, sort_keys=True))}</pre>
<h2>Recipe</h2><pre>{html.escape(recipe_toml)}</pre>
<h2>Run metadata</h2><pre>{html.escape(json.dumps(jsonable(meta), indent=2, sort_keys=True))}</pre>
</body></html>
"""
