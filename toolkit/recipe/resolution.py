"""Resolution: a recipe read, overridden, validated, resolved and checked in one pass.

:func:`load_recipe` reads a file (or a packaged recipe by name) and :func:`parse_recipe`
takes the parsed TOML; both apply the ``--set`` overrides, validate the top level against
the schema (:mod:`toolkit.recipe.schema`), resolve every component
(:mod:`toolkit.recipe.components`), run the checks (:mod:`toolkit.recipe.checks`) and
resolve the recipe ``[train] init_from`` names. Every problem found is reported at once in
one :class:`~toolkit.errors.RecipeError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolkit.errors import Problem, RecipeError, UsageError
from toolkit.kinds import sections
from toolkit.recipe.checks import check_resolved, check_sections
from toolkit.recipe.components import resolve_sections, resolve_task, take_from_model
from toolkit.recipe.problems import known_keys, validation_problems
from toolkit.recipe.reading import apply_overrides, read_toml
from toolkit.recipe.resolved import ResolvedRecipe
from toolkit.recipe.schema import Recipe, sections_model


def load_recipe(
    path: str | Path, overrides: Iterable[str] = (), *, origins: Mapping[str, str] | None = None
) -> ResolvedRecipe:
    """Read, override and validate a recipe file; raises :class:`RecipeError` listing every problem.

    ``path`` that is no file but the name of a packaged recipe (``quickstart``) reads that one.
    """
    from toolkit.packaged import find_recipe

    path = find_recipe(path)
    data = read_toml(path)
    return parse_recipe(data, overrides, source=str(path), origins=origins)


def parse_recipe(
    data: Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    source: str | None = None,
    origins: Mapping[str, str] | None = None,
) -> ResolvedRecipe:
    """Validate a recipe given as a dict (what :func:`read_toml` returns).

    ``origins`` names the command-line option behind an overridden key (``runtime.threads``
    set by ``--threads``), so a problem with it says which option to fix; the default is
    ``--set``.

    Every component is imported and checked against its kind's protocol
    (:mod:`toolkit.protocols`), and the task checks what it needs from the components, so
    a recipe that validates does not fail later for a reason the recipe alone shows.
    """
    raw = json.loads(json.dumps(data, default=str))  # a deep copy of plain values
    overrides = list(overrides)
    problems = apply_overrides(raw, overrides)
    recipe = _validate_top_level(raw, problems)

    components = resolve_sections(raw, problems)
    take_from_model(raw, components)
    task = resolve_task(raw, problems)
    if task is not None:
        problems.extend(check_sections(task, raw))
    resolved = None
    if not problems and recipe is not None and task is not None:
        recipe = _as_given(recipe, raw, components)
        resolved = ResolvedRecipe(recipe=recipe, task=task, components=components, source=source)
        problems.extend(check_resolved(resolved))
    if resolved is not None and not problems and recipe is not None and recipe.train.init_from:
        resolved.init = _resolve_init(recipe.train.init_from, source, problems, recipe.train.init_set)
    if problems or resolved is None:
        set_keys = {o.partition("=")[0].strip() for o in overrides}
        raise RecipeError(_mark_overridden(problems, set_keys, origins), source=source)
    return resolved


def _as_given(recipe: Recipe, raw: Mapping[str, Any], components: Mapping[str, list[Any]]) -> Recipe:
    """A recipe without ``[train]`` whose model is trained already (its factory's
    ``given(params)``: a weights file, an exported program) gets ``train.epochs = 0``: the
    model is evaluated as given, and the resolved recipe (a run's ``recipe.toml``) says so."""
    from toolkit.declarations import declared as declared_by
    from toolkit.recipe.schema import TrainConfig

    model = (components.get("model") or [None])[0]
    given = declared_by(model.factory, "given") if model is not None else None
    if "train" in raw or not callable(given) or not given(model.params):
        return recipe
    return recipe.model_copy(update={"train": TrainConfig(epochs=0)})


def _validate_top_level(raw: Any, problems: list[Problem]) -> Recipe | None:
    """The top level less the component sections as a :class:`Recipe`, and the component
    sections' shape; problems are appended."""
    recipe: Recipe | None = None
    top = {k: v for k, v in raw.items() if k not in sections()} if isinstance(raw, Mapping) else raw
    try:
        recipe = Recipe.model_validate(top)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, prefix=(), known=known_keys))
    try:
        sections_model().model_validate(raw)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, prefix=(), known=known_keys))
    return recipe


def _mark_overridden(
    problems: list[Problem], set_keys: set[str], origins: Mapping[str, str] | None
) -> list[Problem]:
    """The problems, those with an overridden key naming the option that set it."""
    origin = dict(origins or {})
    return [
        Problem(p.path, p.message + f" (set with {origin.get(p.path, '--set')})") if p.path in set_keys else p
        for p in problems
    ]


#: Recipe files being resolved through ``init_from``, to refuse a cycle.
_INIT_CHAIN: list[Path] = []


def _resolve_init(
    path: str, source: str | None, problems: list[Problem], overrides: list[str]
) -> ResolvedRecipe | None:
    """The recipe ``[train] init_from`` names: relative to this recipe's folder (or the
    working folder when there is no file), with the overrides of ``init_set``, resolved and
    validated like any recipe."""
    base = Path(source).parent if source and Path(source).is_file() else Path.cwd()
    target = (base / path).expanduser().resolve()
    if not target.is_file():
        problems.append(Problem("train.init_from", f"no recipe file at {target}"))
        return None
    if target in _INIT_CHAIN or (source and Path(source).is_file() and target == Path(source).resolve()):
        problems.append(Problem("train.init_from", f"{target.name} is already being resolved: a cycle"))
        return None
    _INIT_CHAIN.append(target)
    try:
        keys = {o.partition("=")[0].strip(): "train.init_set" for o in overrides}
        return load_recipe(target, overrides, origins=keys)
    except RecipeError as exc:
        problems.append(Problem("train.init_from", f"the recipe {target} is invalid: {exc}"))
    except UsageError as exc:
        problems.append(Problem("train.init_from", str(exc)))
    finally:
        _INIT_CHAIN.pop()
    return None
