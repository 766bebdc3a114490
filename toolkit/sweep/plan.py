"""The points of a sweep: the grid's product, paired (zipped) keys and seeds.

A sweep is one recipe run at many points; a point is a set of recipe keys with values, as
``--set`` writes them, and a seed. ``--grid key=v1,v2`` gives one axis (its values are
split at top-level commas and each is read as TOML, like ``--set``); axes combine as a
product. ``--zip`` keys go together, the n-th value of each with the n-th of the others, and
form one axis. ``--seeds N`` runs each point N times with seeds ``seed, seed + 1, ...``.

Example:
    >>> plan = SweepPlan.make(grid={"train.lr": [0.1, 0.01]}, seeds=2, base_seed=0)
    >>> [p.id for p in plan.points]
    ['lr=0.1-seed=0', 'lr=0.1-seed=1', 'lr=0.01-seed=0', 'lr=0.01-seed=1']
    >>> plan.points[1].overrides()
    ('train.lr=0.1', 'seed=1')
    >>> split_values('["frog"],["cat", "dog"]')
    [['frog'], ['cat', 'dog']]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkit.errors import UsageError


@dataclass(frozen=True)
class Point:
    """One run of a sweep: recipe keys with their values, and a seed (``None``: the recipe's)."""

    id: str
    values: dict[str, Any]
    seed: int | None
    #: The point without its seed: runs of one group are aggregated (mean +- std).
    group: str

    def overrides(self) -> tuple[str, ...]:
        """The point as ``--set`` overrides."""
        sets = tuple(f"{key}={toml_value(value)}" for key, value in self.values.items())
        return sets + ((f"seed={self.seed}",) if self.seed is not None else ())


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's axes and the points they make (in a fixed order)."""

    grid: dict[str, list[Any]]
    zip: dict[str, list[Any]]
    seeds: int
    base_seed: int
    metrics: list[str] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)

    @classmethod
    def make(
        cls,
        *,
        grid: Mapping[str, Sequence[Any]] | None = None,
        zip: Mapping[str, Sequence[Any]] | None = None,
        seeds: int = 1,
        base_seed: int = 0,
        metrics: Sequence[str] = (),
    ) -> SweepPlan:
        """The plan of these axes; a usage error for unequal zip lengths or a key in both."""
        grid_: dict[str, list[Any]] = {k: list(v) for k, v in (grid or {}).items()}
        zipped: dict[str, list[Any]] = {k: list(v) for k, v in (zip or {}).items()}
        both = sorted(set(grid_) & set(zipped))
        if both:
            raise UsageError(f"{', '.join(both)}: a key is either in the grid or zipped, not both")
        lengths = {k: len(v) for k, v in zipped.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k} ({n})" for k, n in lengths.items())
            raise UsageError(f"the zipped keys need as many values each: {shown}")
        if seeds < 1:
            raise UsageError(f"--seeds must be at least 1, not {seeds}")
        axes: list[list[dict[str, Any]]] = [[{key: v} for v in values] for key, values in grid_.items()]
        if zipped:
            n = next(iter(lengths.values()))
            axes.append([{k: zipped[k][i] for k in zipped} for i in range(n)])
        names = short_names([*grid_, *zipped])
        points = []
        for combo in itertools.product(*axes):
            values = {k: v for part in combo for k, v in part.items()}
            group = point_id(values, names)
            for s in range(seeds):
                seed = base_seed + s if seeds > 1 else None
                pid = group if seed is None else f"{group}-seed={seed}" if group != "base" else f"seed={seed}"
                points.append(Point(pid, values, seed, group))
        return cls(grid_, zipped, seeds, base_seed, list(metrics), points)

    @property
    def keys(self) -> list[str]:
        """The swept recipe keys, in order."""
        return [*self.grid, *self.zip]

    def to_json(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "zip": self.zip,
            "seeds": self.seeds,
            "base_seed": self.base_seed,
            "metrics": self.metrics,
            "points": [
                {"id": p.id, "group": p.group, "values": p.values, "seed": p.seed} for p in self.points
            ],
        }


def split_values(text: str) -> list[Any]:
    """``v1,v2,...`` split at commas outside brackets, braces and quotes; each read as TOML."""
    from toolkit.recipe import parse_value

    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [parse_value(p.strip()) for p in parts if p.strip()]


def parse_axes(items: Sequence[str], option: str) -> dict[str, list[Any]]:
    """``--grid``/``--zip`` options (``key=v1,v2``) as ``{key: [v1, v2]}``."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", key):
            raise UsageError(f"{option} '{item}' is not key=v1,v2,... (e.g. {option} train.lr=0.1,0.01)")
        parsed = split_values(values)
        if not parsed:
            raise UsageError(f"{option} '{item}' has no values")
        out[key] = parsed
    return out


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (what ``--set`` reads back).

    Example:
        >>> toml_value(["frog", 2, 0.5, True, {"a": 1}])
        '["frog", 2, 0.5, true, {a = 1}]'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return "nan" if math.isnan(value) else ("-inf" if value < 0 else "inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise UsageError(f"a sweep value must be a TOML value, not {type(value).__name__}")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """Each key's last part, or the whole key where two keys share their last part."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (t if last.count(t) == 1 else k) for k, t in zip(keys, last, strict=True)}


def point_id(values: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """A folder name that reads as the point (``holdout=frog-lr=0.1``); long or odd ones
    are cut and end with a digest of the values, so two points never share a name."""
    if not values:
        return "base"
    parts = [f"{names.get(k, k)}={_slug(v)}" for k, v in values.items()]
    text = re.sub(r"[^A-Za-z0-9_.=+-]", "_", "-".join(parts))
    if len(text) > 80 or text != "-".join(parts):
        digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
        text = f"{text[:70]}-{digest}"
    return text


def _slug(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "+".join(_slug(v) for v in value) or "none"
    if isinstance(value, Mapping):
        return "+".join(f"{k}_{_slug(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
