"""Property-based fuzzing of recipes, overrides and recipe files.

The property: any recipe either validates, or fails with a usage error (exit status 2) whose
message names a key path; never another exception. Recipes are shipped ones mutated at
random: keys drawn from the real schema (top-level keys, ``[train]``, ``[runtime]``, every
registered component's name and parameters) and from noise, set to any TOML value (huge
integers, NaN and infinities, text, dates, lists, tables) or deleted. Overrides are
``key=value`` strings of the same keys with random value text, and raw recipe files are
random text.

The default suite runs a short budget; ``HYPOTHESIS_PROFILE=long`` (``nox -s fuzz``) a long one.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import tomllib

pytest.importorskip("hypothesis", reason="the fuzz tests need hypothesis (pip install -e '.[dev]')")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.errors import ToolkitError, UsageError
from toolkit.recipe import RuntimeConfig, TrainConfig, parse_recipe, read_toml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")


@cache
def base_recipes() -> list[dict[str, Any]]:
    return [tomllib.loads(p.read_text()) for p in RECIPES]


@cache
def vocabulary() -> list[str]:
    """Every key a recipe can hold, and every component name."""
    from toolkit.kinds import sections
    from toolkit.registry import registry

    words = {"task", "name", "seed", "description", "train", "runtime", "evaluate", "baselines"}
    words |= set(TrainConfig.model_fields) | set(RuntimeConfig.model_fields) | set(sections())
    for kind in sections().values():
        for entry in registry(kind.name).find("*"):
            words.add(entry.name)
            with contextlib.suppress(ToolkitError):
                words |= {p.name for p in entry.signature().params}
    return sorted(words)


keys = st.one_of(st.sampled_from(vocabulary()), st.text(min_size=1, max_size=8))
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(vocabulary()),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=8,
)
paths = st.lists(st.one_of(keys, st.integers(min_value=0, max_value=3)), min_size=1, max_size=3)


def put(node: Any, path: list[Any], value: Any) -> None:
    """Set ``path`` in ``node`` to ``value``, making tables (or replacing values) on the way."""
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            if last:
                node[part] = value
                return
            if not isinstance(node[part], dict | list):
                node[part] = {}
            node = node[part]
        elif isinstance(node, dict):
            key = str(part)
            if last:
                node[key] = value
                return
            if not isinstance(node.get(key), dict | list):
                node[key] = {}
            node = node[key]
        else:
            return


def drop(node: Any, path: list[Any]) -> None:
    for part in path[:-1]:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    if isinstance(node, dict):
        node.pop(str(path[-1]), None)


@st.composite
def mutated_recipes(draw: Callable[..., Any]) -> dict[str, Any]:
    recipe = copy.deepcopy(draw(st.sampled_from(base_recipes())))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if draw(st.booleans()):
            put(recipe, draw(paths), draw(values))
        else:
            drop(recipe, draw(paths))
    return recipe


def holds(action: Callable[[], Any]) -> None:
    """``action`` validates, or raises a usage error with a message; nothing else."""
    try:
        action()
    except UsageError as exc:
        assert exc.exit_code == 2 and str(exc).strip(), repr(exc)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(settings.get_profile(PROFILE))
@given(recipe=mutated_recipes())
def test_any_recipe_validates_or_is_a_usage_error(recipe: dict[str, Any]) -> None:
    holds(lambda: parse_recipe(recipe, source="fuzz.toml"))


override_values = st.one_of(
    st.text(max_size=16),
    st.sampled_from(["inf", "nan", "-1", "1e309", "[1,", "{a = 1}", '"x"', "true", "[]", "2**32"]),
)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(settings.get_profile(PROFILE))
@given(
    recipe=st.sampled_from(RECIPES),
    overrides=st.lists(
        st.one_of(
            st.builds(
                lambda p, v: ".".join(map(str, p)) + "=" + v,
                paths,
                override_values,
            ),
            st.text(max_size=20),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_any_override_validates_or_is_a_usage_error(recipe: Path, overrides: list[str]) -> None:
    holds(lambda: parse_recipe(read_toml(recipe), overrides, source=str(recipe)))


@settings(settings.get_profile(PROFILE))
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_recipe_file_reads_or_is_a_usage_error(tmp_path_factory: Any, text: str | bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "recipe.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    holds(lambda: parse_recipe(read_toml(path), source=str(path)))
