"""A sweep's summary: one row per grid point, the chosen metrics as mean +- std over seeds.

Read from the sweep folder's files alone (``sweep.json`` and each point's ``metrics.json``),
so ``toolkit report SWEEP`` can write it again at any time. It writes

- ``summary.csv``: a row per grid point: the swept keys, ``n`` (runs that finished),
  ``failed``, and per metric its mean (and ``<metric>.std``, the sample standard deviation,
  when the sweep has seeds);
- ``summary.json``: the same, with every run's metrics and path, and the failed points;
- ``figures/*.png``: a metric against a numeric key (a line with error bars), against a
  key of names (bars), or over two keys (a heatmap);
- ``report.html``: the table and the figures, self-contained.

Example:
    >>> matching(["accuracy", "detectors.msp.auroc", "detectors.energy.auroc"], ["detectors.*.auroc"])
    ['detectors.msp.auroc', 'detectors.energy.auroc']
"""

from __future__ import annotations

import csv
import fnmatch
import io
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import UsageError
from toolkit.sweep.rows import Row, value_text

__all__ = ["SHOWN", "Row", "Summary", "figures", "matching", "read", "table", "to_csv", "to_json", "write"]

#: Metrics shown in the console and HTML tables when the sweep names none (all are in the CSV).
SHOWN = 8


@dataclass
class Summary:
    """Everything the summary files say."""

    name: str
    keys: list[str]
    metrics: list[str]
    rows: list[Row]
    seeds: int
    failed: dict[str, str]
    record: dict[str, Any]
    #: A warning about the summary (a ``metrics`` pattern that matched nothing).
    #: ``failed`` holds the recorded errors of the points that have no run folder: a point
    #: counts as run only where its run folder is, whatever ``sweep.json`` says.
    note: str | None = None

    @property
    def varying(self) -> list[str]:
        """The swept keys that take more than one value."""
        return [k for k in self.keys if len({value_text(r.values.get(k)) for r in self.rows}) > 1]


def matching(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The names that match any pattern (``fnmatch``), in pattern order, then name order."""
    out: list[str] = []
    for pattern in patterns:
        out += [n for n in names if fnmatch.fnmatchcase(n, pattern) and n not in out]
    return out


def read(path: str | Path) -> Summary:
    """The summary of the sweep folder ``path``.

    Raises:
        UsageError: ``path`` is not a sweep folder, or a point's ``metrics.json`` is not
            what ``toolkit run`` writes (the error names the file).
    """
    folder = Path(path)
    record = _record(folder)
    rows: dict[str, Row] = {}
    numbers: list[str] = []
    for point in record["points"]:
        row = rows.setdefault(point["group"], Row(point["group"], dict(point["values"])))
        flat = _point_metrics(folder, point["id"])
        if flat is None:
            row.failed.append(point["id"])
            continue
        numbers += [k for k, v in flat.items() if _number(v) and k not in numbers]
        row.runs.append(
            {"id": point["id"], "seed": point["seed"], "path": f"points/{point['id']}", "metrics": flat}
        )
    chosen = matching(numbers, record.get("metrics") or ["*"])
    note = None
    if record.get("metrics") and not chosen and numbers:  # a typo must not waste the sweep's runs
        note = f"no metric matches {', '.join(record['metrics'])}, so the summary shows every metric"
        chosen = numbers
    for row in rows.values():
        _aggregate(row, chosen)
    keys = [*record.get("grid", {}), *record.get("zip", {})]
    name = str(record.get("name") or folder.parent.name)
    unfinished = {pid for row in rows.values() for pid in row.failed}
    failed = {pid: error for pid, error in _failed(record).items() if pid in unfinished}
    return Summary(name, keys, chosen, list(rows.values()), int(record.get("seeds", 1)), failed, record, note)


def _record(folder: Path) -> dict[str, Any]:
    """``sweep.json``, checked: points each with an id, a group, values and a seed; the
    grid, zipped keys and failures as tables; the metrics as a list of patterns."""
    from toolkit.execution.runread import read_json

    if not (folder / "sweep.json").is_file() or (folder / "sweep.json").is_symlink():
        raise UsageError(f"{folder} is not a sweep folder with a readable sweep.json (no such file)")
    record = read_json(folder / "sweep.json", table=True, advice="it is not the file toolkit sweep wrote")
    try:
        for point in record["points"]:
            missing = [k for k in ("id", "group", "values", "seed") if k not in point]
            if missing or not isinstance(point["values"], dict):
                raise ValueError(f"a point without {', '.join(missing) or 'a table of values'}: {point}")
            point["id"], point["group"] = str(point["id"]), str(point["group"])
            if not re.fullmatch(r"[A-Za-z0-9_.=+-]+", point["id"]) or point["id"] in (".", ".."):
                raise ValueError(f"point id {point['id']!r} is not a folder name of points/")
        ids = [point["id"] for point in record["points"]]
        if len(set(ids)) < len(ids):
            raise ValueError(f"point {next(i for i in ids if ids.count(i) > 1)} is listed twice")
        for key in ("grid", "zip", "failed"):
            if not isinstance(record.get(key) or {}, dict):
                raise ValueError(f"'{key}' is not a table")
        if not all(isinstance(m, str) for m in record.get("metrics") or []):
            raise ValueError("'metrics' is not a list of names")
        int(record.get("seeds", 1))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{folder} is not a sweep folder with a readable sweep.json ({exc})") from exc
    return dict(record)


def _point_metrics(folder: Path, point: str) -> dict[str, Any] | None:
    """A point's flattened metrics; ``None`` where the point did not finish."""
    from toolkit.execution.runread import is_run_folder, read_metrics
    from toolkit.report import flatten

    run = folder / "points" / point
    if not is_run_folder(run):
        return None
    advice = (
        f"it is not the file toolkit run wrote: remove {run} and resume the sweep (toolkit sweep --resume)"
    )
    return flatten(read_metrics(run, advice=advice))


def _aggregate(row: Row, metrics: Sequence[str]) -> None:
    """Each metric's mean and sample standard deviation over the row's runs."""
    for metric in metrics:
        values = [float(r["metrics"][metric]) for r in row.runs if _number(r["metrics"].get(metric))]
        row.mean[metric] = statistics.fmean(values) if values else None
        row.std[metric] = statistics.stdev(values) if len(values) > 1 else None


def _failed(record: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (record.get("failed") or {}).items()}


def write(path: str | Path, summary: Summary) -> dict[str, bytes]:
    """Write ``summary.csv``, ``summary.json``, the figures and ``report.html``; returns the PNGs."""
    from toolkit import report
    from toolkit.plots import png_bytes

    folder = Path(path)
    recipe_toml = _recipe_text(folder)  # read (and refused) before anything is written
    report.replace_file(folder / "summary.csv", to_csv(summary))
    report.write_json(folder / "summary.json", to_json(summary))
    pngs = {name: png_bytes(fig) for name, fig in figures(summary).items()}
    (folder / "figures").mkdir(exist_ok=True)
    for name, png in pngs.items():
        report.replace_file(folder / "figures" / f"{name}.png", png)
    html = report.render_html(
        title=f"{summary.name}: sweep of {len(summary.rows)} points",
        meta={k: v for k, v in summary.record.items() if k != "points"},
        tables=[table(summary, limit=None)],
        figures=pngs,
        metrics={"failed": summary.failed} if summary.failed else {},
        recipe_toml=recipe_toml,
        facts=_facts(summary),
    )
    report.replace_file(folder / "report.html", html)
    return pngs


def _facts(summary: Summary) -> list[tuple[str, Any]]:
    record = summary.record
    runs = sum(len(r.runs) for r in summary.rows)
    unfinished = sum(len(r.failed) for r in summary.rows) - len(summary.failed)
    left = f", {unfinished} not run" if unfinished else ""
    return [
        ("recipe", record.get("recipe")),
        ("overrides", " ".join(record.get("overrides", [])) or "none"),
        ("swept", ", ".join(summary.keys) or "seeds only"),
        ("runs", f"{runs} finished, {len(summary.failed)} failed{left}, {summary.seeds} seed(s) per point"),
        ("executor", f"{record.get('executor')} ({record.get('jobs')} at once)"),
        ("time", f"{record.get('seconds')} s" if record.get("seconds") is not None else "n/a"),
        ("started", record.get("started")),
    ]


def to_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    stds = summary.seeds > 1
    header = ["point", *summary.keys, "n", "failed"]
    for m in summary.metrics:
        header += [m, f"{m}.std"] if stds else [m]
    writer.writerow(header)
    for row in summary.rows:
        line: list[Any] = [row.group, *(value_text(row.values.get(k)) for k in summary.keys)]
        line += [len(row.runs), len(row.failed)]
        for m in summary.metrics:
            line += [_cell(row.mean.get(m))] + ([_cell(row.std.get(m))] if stds else [])
        writer.writerow(line)
    return buffer.getvalue()


def to_json(summary: Summary) -> dict[str, Any]:
    return {
        "name": summary.name,
        "keys": summary.keys,
        "metrics": summary.metrics,
        "seeds": summary.seeds,
        "rows": [
            {
                "point": r.group,
                "values": r.values,
                "n": len(r.runs),
                "failed": r.failed,
                "mean": r.mean,
                "std": r.std,
                "runs": [{k: v for k, v in run.items() if k != "metrics"} for run in r.runs],
            }
            for r in summary.rows
        ],
        "failed": summary.failed,
    }


def table(summary: Summary, *, limit: int | None = SHOWN) -> Any:
    """The summary as a :class:`toolkit.results.Table` (mean +- std where there are seeds)."""
    from toolkit.results import Table

    shown = summary.metrics if limit is None or summary.record.get("metrics") else summary.metrics[:limit]
    columns = [*summary.keys, "n", *shown]
    rows = []
    for row in summary.rows:
        cells: list[Any] = [value_text(row.values.get(k)) for k in summary.keys] + [len(row.runs)]
        for m in shown:
            mean, std = row.mean.get(m), row.std.get(m)
            cells.append(
                "—" if mean is None else f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")
            )
        rows.append(cells)
    more = (
        f" ({len(summary.metrics) - len(shown)} more metrics in summary.csv)"
        if len(shown) < len(summary.metrics)
        else ""
    )
    return Table(f"sweep of {summary.name}: {len(summary.rows)} points{more}", columns, rows)


def figures(summary: Summary) -> dict[str, Any]:
    """A metric against one swept key (line or bars), or over two (heatmap); at most four."""
    from toolkit.sweep import figures as draw

    varying = summary.varying
    metrics = [m for m in summary.metrics if any(r.mean.get(m) is not None for r in summary.rows)][:4]
    out = {}
    for metric in metrics:
        if len(varying) == 1:
            out[_file(metric)] = draw.against(summary.rows, varying[0], metric)
        elif len(varying) == 2:
            out[_file(metric)] = draw.heatmap(summary.rows, varying[0], varying[1], metric)
        elif summary.rows:
            out[_file(metric)] = draw.points(summary.rows, metric)
    return out


def _file(metric: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in metric)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _recipe_text(folder: Path) -> str:
    """The sweep's own copy of its recipe (``recipe.toml`` in the sweep folder, written when
    the sweep started); never the file a path in ``sweep.json`` names, which a sweep folder
    from elsewhere could point at any readable file."""
    from toolkit.execution.runread import read_text

    path = folder / "recipe.toml"
    return (
        read_text(path, advice="it is not the file toolkit sweep wrote")
        if path.exists() or path.is_symlink()
        else ""
    )
