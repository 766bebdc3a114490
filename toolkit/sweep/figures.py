"""Figures of a sweep: a metric against a swept key, or over two keys (matplotlib, Agg)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from toolkit.sweep.rows import value_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from toolkit.sweep.rows import Row


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def against(rows: Sequence[Row], key: str, metric: str) -> Figure:
    """``metric`` (mean, with +- std bars when there are seeds) against ``key``: a line when
    the key's values are numbers (a log axis when they span more than two decades), bars
    otherwise."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 0.5 * len(rows)), 3.6), layout="constrained")
    ax = fig.subplots()
    kept = [r for r in rows if r.mean.get(metric) is not None]
    xs: list[Any] = [r.values.get(key) for r in kept]
    ys = [float(r.mean[metric] or 0.0) for r in kept]
    errs = [float(r.std.get(metric) or 0.0) for r in kept]
    if _numeric(xs) and xs:
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        xs, ys, errs = [xs[i] for i in order], [ys[i] for i in order], [errs[i] for i in order]
        ax.errorbar(xs, ys, yerr=errs if any(errs) else None, marker="o", capsize=3)
        positive = [x for x in xs if x > 0]
        if len(positive) == len(xs) and max(xs) / min(positive) > 100:
            ax.set_xscale("log")
    else:
        ax.bar(range(len(xs)), ys, yerr=errs if any(errs) else None, capsize=3, color="tab:blue")
        ax.set_xticks(
            range(len(xs)), [value_text(x) for x in xs], rotation=45 if len(xs) > 4 else 0, ha="right"
        )
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    return fig


def heatmap(rows: Sequence[Row], key_y: str, key_x: str, metric: str) -> Figure:
    """``metric``'s mean over two swept keys, each cell annotated."""
    import numpy as np
    from matplotlib.figure import Figure

    ys = _distinct(r.values.get(key_y) for r in rows)
    xs = _distinct(r.values.get(key_x) for r in rows)
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        value = r.mean.get(metric)
        if value is not None:
            grid[ys.index(value_text(r.values.get(key_y))), xs.index(value_text(r.values.get(key_x)))] = value
    fig = Figure(figsize=(max(4.0, 0.9 * len(xs) + 2), max(3.0, 0.5 * len(ys) + 1.5)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(key_x)
    ax.set_ylabel(key_y)
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if math.isfinite(grid[i, j]):
                color = "black" if grid[i, j] > middle else "white"
                ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8, color=color)
    return fig


def points(rows: Sequence[Row], metric: str) -> Figure:
    """``metric`` per grid point, as bars (more than two swept keys)."""
    from matplotlib.figure import Figure

    kept = [r for r in rows if r.mean.get(metric) is not None]
    fig = Figure(figsize=(max(5.0, 0.4 * len(kept)), 3.8), layout="constrained")
    ax = fig.subplots()
    errs = [float(r.std.get(metric) or 0.0) for r in kept]
    means = [float(r.mean[metric] or 0.0) for r in kept]
    ax.bar(range(len(kept)), means, yerr=errs if any(errs) else None, capsize=3)
    ax.set_xticks(range(len(kept)), [r.group for r in kept], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    return fig


def _distinct(values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        if value_text(v) not in out:
            out.append(value_text(v))
    return out
