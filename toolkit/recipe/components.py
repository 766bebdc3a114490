"""Resolving a recipe's component tables: each found in its registry, validated, classified.

Every table that names a component (``[dataset]``, ``[model]``, each entry of the list
sections, and the task with its ``[evaluate]`` parameters) is looked up in the registry of
its kind, validated against the component's signature, imported and given its family
(:mod:`toolkit.protocols`). Components a component builds from its parameters (the attack
of adversarial training) are resolved the same way. Problems are appended to a list, so
every problem of a recipe is reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from toolkit.declarations import declared
from toolkit.declarations import module_declaration as module_declared
from toolkit.errors import Problem
from toolkit.kinds import KINDS, sections, singular
from toolkit.recipe.checks import normalize_classes
from toolkit.recipe.problems import validation_problems
from toolkit.recipe.resolved import Component
from toolkit.registry import kind_name, registry


def resolve_sections(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, list[Component]]:
    """The components of every section of ``raw``, in recipe order; a table that names no
    component is left to the schema's problems, one that fails to resolve is left out."""
    out: dict[str, list[Component]] = {}
    for section, kind in sections().items():
        value = raw.get(section)
        if kind.many:
            tables = [(f"{section}.{i}", t) for i, t in enumerate(value)] if isinstance(value, list) else []
        else:
            tables = [(section, value)] if isinstance(value, Mapping) else []
        resolved = [
            _resolve(kind.name, t, path, problems)
            for path, t in tables
            if isinstance(t, Mapping) and isinstance(t.get("name"), str)
        ]
        out[section] = [c for c in resolved if c is not None]
    return out


def resolve_task(raw: Mapping[str, Any], problems: list[Problem]) -> Component | None:
    """The task the top-level ``task`` key names, with ``[evaluate]`` as its parameters."""
    evaluate = raw.get("evaluate", {})
    if isinstance(evaluate, Mapping) and "name" in evaluate:
        problems.append(Problem("evaluate.name", "unknown key; the top-level 'task' key names the task"))
        evaluate = {k: v for k, v in evaluate.items() if k != "name"}
    if not isinstance(raw.get("task"), str):
        return None
    return _resolve(
        "tasks",
        {"name": raw["task"], **(evaluate if isinstance(evaluate, Mapping) else {})},
        "evaluate",
        problems,
        name_path="task",
    )


def _resolve(
    kind: str,
    table: Mapping[str, Any],
    path: str,
    problems: list[Problem],
    *,
    name_path: str | None = None,
) -> Component | None:
    """Find, validate, import and classify one component; problems are appended."""
    from toolkit.errors import ToolkitError
    from toolkit.protocols import ProtocolMismatch, family_of

    kind = kind_name(kind)
    name = table["name"]
    where = name_path or f"{path}.name"
    try:
        entry = registry(kind).get(name)
        sig = entry.signature()
    except ToolkitError as exc:
        problems.append(Problem(where, str(exc)))
        return None
    params = {k: v for k, v in table.items() if k != "name"}
    title = f"{singular(kind)} {name}"
    try:
        validated = sig.validate(params, title)
    except ValidationError as exc:
        known = [p.name for p in sig.params]
        problems.extend(
            validation_problems(
                exc,
                prefix=tuple(path.split(".")),
                known=lambda _loc: known,
                owner=f"{singular(kind)} '{name}'",
            )
        )
        return None
    try:
        factory = entry.load()
        family = family_of(KINDS[kind], factory)
    except ToolkitError as exc:
        problems.append(Problem(where, str(exc)))
        return None
    except ProtocolMismatch as exc:
        problems.append(
            Problem(
                where,
                f"{singular(kind)} '{name}' ({entry.provider}, {entry.target}) does not implement "
                f"any {singular(kind)} family: {exc}. See docs/plugins.md#contracts",
            )
        )
        return None
    if kind == "datasets":
        validated = normalize_classes(factory, validated, path, problems)
    nested = _resolve_nested(factory, validated, path, problems)
    if nested is None:
        return None
    return Component(kind=kind, name=name, entry=entry, params=validated, family=family, nested=nested)


def _resolve_nested(
    factory: Any, params: dict[str, Any], path: str, problems: list[Problem]
) -> tuple[Component, ...] | None:
    """Components a component builds from its parameters, declared as ``nested = {"attack":
    ("attacks", "params", "evasion")}`` (the parameter naming a registered component, the
    parameter holding its parameters, and optionally the family it must have), or as
    ``nested = {"far": ("datasets", "*")}`` (a parameter holding a list of component tables,
    or of bare names): resolved and validated like any other, their parameters normalized
    in place."""
    out: list[Component] = []
    failed = False
    for param, spec in (declared(factory, "nested") or {}).items():
        kind, params_key, *family = spec
        if params_key == "*":  # every list is resolved, so each one's problems are reported
            listed = _resolve_listed(kind, params, param, path, problems)
            failed = failed or listed is None
            out.extend(listed or [])
            continue
        table = {"name": params[param], **(params.get(params_key) or {})}
        before = len(problems)
        found = _resolve(kind, table, f"{path}.{params_key}", problems, name_path=f"{path}.{param}")
        if found is None:
            return None if len(problems) > before else ()
        if family and found.family != family[0]:
            problems.append(
                Problem(
                    f"{path}.{param}", f"{singular(kind)} '{found.name}' is {found.family}, not {family[0]}"
                )
            )
            return None
        params[params_key] = dict(found.params)
        out.append(found)
    return None if failed else tuple(out)


def take_from_model(raw: Mapping[str, Any], components: dict[str, list[Component]]) -> None:
    """Fill dataset parameters the recipe leaves out from the model's, as the dataset declares
    with ``FROM_MODEL = {"tokenizer": "checkpoint"}`` (dataset parameter -> model parameter):
    a text data set is tokenized by the model's own tokenizer unless the recipe says otherwise."""
    data, model = components.get("dataset") or [], components.get("model") or []
    table = raw.get("dataset")
    if not data or not model or not isinstance(table, Mapping):
        return
    for param, source in (module_declared(data[0].factory, "FROM_MODEL") or {}).items():
        if param not in table and model[0].params.get(source) is not None:
            data[0].params[param] = model[0].params[source]


def _resolve_listed(
    kind: str, params: dict[str, Any], param: str, path: str, problems: list[Problem]
) -> list[Component] | None:
    """The components of a parameter that lists component tables (``{name = "svhn", root =
    "..."}``) or names (``"svhn"``): each resolved at ``<path>.<param>.<i>`` and replaced by its
    validated table; ``None`` when one fails (every entry's problems are appended)."""
    found: list[Component] = []
    failed = False
    for i, item in enumerate(params.get(param) or []):
        where = f"{path}.{param}.{i}"
        table = {"name": item} if isinstance(item, str) else item
        if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
            noun = singular(kind_name(kind))
            problems.append(Problem(where, f'expected a {noun} name or a table with a name, e.g. "svhn"'))
            failed = True
            continue
        component = _resolve(kind, table, where, problems)
        failed = failed or component is None
        if component is not None:
            found.append(component)
    if failed:
        return None
    params[param] = [c.table() for c in found]
    return found
