"""The checks of a recipe beyond its schema and the components' signatures.

What the components declare about themselves: a dataset's class names (``CLASS_NAMES``)
and modality (``MODALITY``), the modalities a component supports (``modalities``), the
sections a task reads (``uses``, ``requires``), the reference runs it offers
(``baselines``) and its own ``check`` of the resolved recipe.

The checks of a resolved recipe are the functions of :data:`CHECKS`, in order; each takes
the :class:`~toolkit.recipe.resolved.ResolvedRecipe` and returns the problems it finds, so
adding a check is one function and one entry there. :func:`check_sections` runs before the
recipe is resolved (it reads the raw recipe, to report a section the task does not use
even when another problem stops resolution), and :func:`normalize_classes` while the
dataset is resolved.

Example:
    >>> for problem in check_baselines("ood", {"sklearn": ("auroc",)}, {"sklearn": ["auroc", "aupr"]}):
    ...     print(problem)
    baselines.sklearn.1: unknown sklearn baseline 'aupr'; did you mean 'auroc'? choose from auroc
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toolkit.capabilities import check_needs
from toolkit.declarations import declared
from toolkit.declarations import module_declaration as module_declared
from toolkit.errors import Problem
from toolkit.kinds import list_sections, sections, singular
from toolkit.recipe.resolved import Component, ResolvedRecipe
from toolkit.registry import suggest

#: A check of a resolved recipe: the problems it finds (none: an empty list).
Check = Callable[[ResolvedRecipe], list[Problem]]


def dataset_modality(component: Component) -> str | None:
    """The dataset's modality if it is known before loading (``MODALITY`` or a parameter)."""
    value = component.params.get("modality", module_declared(component.factory, "MODALITY"))
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- resolved recipe


def check_modalities(recipe: ResolvedRecipe) -> list[Problem]:
    """Components (the task too) that declare ``modalities`` must support the data's (when
    it is known)."""
    modality = dataset_modality(recipe.dataset)
    problems: list[Problem] = []
    if modality is None:
        return problems
    if recipe.recipe.train.augment and modality != "image":
        augment = recipe.recipe.train.augment
        problems.append(
            Problem("train.augment", f"{augment} needs images, but '{recipe.dataset.name}' is {modality}")
        )
    for section, comps in recipe.components.items():
        for i, c in enumerate(comps):
            where = f"{section}.{i}.name" if sections()[section].many else f"{section}.name"
            for part in (c, *c.nested):
                supported = declared(part.factory, "modalities")
                if not supported or modality in supported:
                    continue
                what = f"{singular(part.kind)} '{part.name}'" + (f" (of {c.name})" if part is not c else "")
                problems.append(
                    Problem(
                        where,
                        f"{what} works on {', '.join(supported)} data, but the dataset "
                        f"'{recipe.dataset.name}' is {modality}; remove it or use another dataset",
                    )
                )
    supported = declared(recipe.task.factory, "modalities")
    if supported and modality not in supported:
        message = (
            f"the {recipe.task.name} task works on {', '.join(supported)} data, but the dataset "
            f"'{recipe.dataset.name}' is {modality}; use a {' or '.join(supported)} dataset"
        )
        problems.append(Problem("task", message))
    return problems


def check_task(recipe: ResolvedRecipe) -> list[Problem]:
    """The task's own ``check`` of the resolved recipe, if it has one."""
    check = declared(recipe.task.factory, "check")
    return list(check(recipe)) if callable(check) else []


def check_given(recipe: ResolvedRecipe) -> list[Problem]:
    """A model evaluated as given (``train.epochs = 0``, which a recipe without ``[train]``
    gets for a trained model) takes no defense that acts while the model trains or trains it
    again (the batch, data and filter families)."""
    if recipe.model is None or recipe.recipe.train.epochs != 0:
        return []
    return [
        Problem(
            f"defenses.{i}",
            f"{spec.name} acts while the model trains (or trains it again), but model {recipe.model.name} "
            "is evaluated as given (train.epochs = 0, or no [train] table with a trained model); add a "
            "[train] table to train it",
        )
        for i, spec in enumerate(recipe.section("defenses"))
        if spec.family in ("batch", "data", "filter")
    ]


#: The checks of a resolved recipe, run in this order by :func:`check_resolved`.
CHECKS: list[Check] = [check_modalities, check_needs, check_task, check_given]


def check_resolved(recipe: ResolvedRecipe) -> list[Problem]:
    """The problems every check of :data:`CHECKS` finds in ``recipe``, in order."""
    return [problem for check in CHECKS for problem in check(recipe)]


#: Values a user may state on purpose but that no run here finishes: ``validate`` warns.
MAX_EPOCHS = 100_000


def warnings_for(recipe: ResolvedRecipe, cores: int | None = None) -> list[str]:
    """Values that are allowed but cannot finish as meant: more than :data:`MAX_EPOCHS` epochs
    (at a second an epoch, longer than a day), or more torch threads than this machine has
    cores (``cores``, default ``os.cpu_count()``), which only slows the run down.

    Example:
        >>> from toolkit.recipe import parse_recipe
        >>> r = parse_recipe({"task": "classify", "name": "w", "dataset": {"name": "digits"},
        ...                   "model": {"name": "mlp"}, "train": {"epochs": 10**12},
        ...                   "runtime": {"threads": 64}})
        >>> for line in warnings_for(r, cores=2):
        ...     print(line)
        train.epochs = 1000000000000: at one second an epoch this takes 11574074 days
        runtime.threads = 64: this machine has 2 cores; more threads than cores only slow a run down
    """
    import os

    out = []
    epochs = recipe.recipe.train.epochs
    if epochs > MAX_EPOCHS:
        out.append(f"train.epochs = {epochs}: at one second an epoch this takes {epochs // 86400} days")
    threads, cores = recipe.recipe.runtime.threads, cores or os.cpu_count() or 1
    if threads is not None and threads > cores:
        out.append(
            f"runtime.threads = {threads}: this machine has {cores} cores; "
            "more threads than cores only slow a run down"
        )
    return out


# --------------------------------------------------------------------------- before resolution


def check_sections(task: Component, raw: Mapping[str, Any]) -> list[Problem]:
    """A task says which sections it reads (``uses``); others in the recipe are mistakes."""
    attrs = task.factory
    uses = tuple(declared(attrs, "uses"))
    problems: list[Problem] = []
    if not uses:
        return problems
    for section in (*list_sections(), "model", "baselines"):
        present = raw.get(section)
        if present and section not in uses:
            problems.append(
                Problem(section, f"the '{task.name}' task does not use {section}; remove this section")
            )
    if "model" in uses and not raw.get("model"):
        problems.append(Problem("model", f"the '{task.name}' task needs a [model] table"))
    for section in tuple(declared(attrs, "requires")):
        if not raw.get(section):
            problems.append(Problem(section, f"the '{task.name}' task needs at least one entry in {section}"))
    problems += check_baselines(task.name, dict(declared(attrs, "baselines") or {}), raw.get("baselines"))
    return problems


def check_baselines(task: str, offered: dict[str, Any], requested: Any) -> list[Problem]:
    """Requested reference runs must be among those the task offers (its ``baselines`` attribute)."""
    problems: list[Problem] = []
    if not isinstance(requested, Mapping):
        return problems
    for library, names in requested.items():
        if library not in offered:
            what = f"offers baselines from {', '.join(offered)}" if offered else "has no baselines"
            problems.append(Problem(f"baselines.{library}", f"the '{task}' task {what}"))
            continue
        for i, name in enumerate(names if isinstance(names, list) else []):
            if name not in offered[library]:
                close = suggest(str(name), list(offered[library]))
                hint = f"did you mean '{close[0]}'? " if close else ""
                choices = ", ".join(offered[library])
                problems.append(
                    Problem(
                        f"baselines.{library}.{i}",
                        f"unknown {library} baseline '{name}'; {hint}choose from {choices}",
                    )
                )
    return problems


def normalize_classes(
    factory: Any, params: dict[str, Any], path: str, problems: list[Problem]
) -> dict[str, Any]:
    """Class references (``holdout``, ``classes``) as names in class order, when the dataset
    declares ``CLASS_NAMES``: ``[9]`` and ``["9"]`` are then the same recipe. Problems
    (an unknown class, an index out of range, too few classes left) are appended."""
    names = module_declared(factory, "CLASS_NAMES")
    if not isinstance(names, list | tuple) or not names:
        return params
    names = [str(n) for n in names]
    out = dict(params)
    for key in ("holdout", "classes"):
        value = params.get(key)
        if isinstance(value, list):
            out[key] = _class_names(value, names, f"{path}.{key}", problems)
    held = out.get("holdout")
    if isinstance(held, list) and held:
        chosen = out.get("classes")
        universe = chosen if isinstance(chosen, list) and chosen else names
        left = [n for n in universe if n not in held]
        if len(left) < 2:
            problems.append(
                Problem(
                    f"{path}.holdout",
                    f"holds out {len(universe) - len(left)} of the {len(universe)} classes, leaving "
                    f"{len(left)} to train on; keep at least 2",
                )
            )
    return out


def _class_names(value: list[Any], names: list[str], path: str, problems: list[Problem]) -> list[str]:
    """The classes ``value`` refers to (by index or by name), as names in class order."""
    picked: set[int] = set()
    for i, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            if 0 <= item < len(names):
                picked.add(item)
            else:
                problems.append(
                    Problem(f"{path}.{i}", f"class index {item} is out of range (0 to {len(names) - 1})")
                )
        elif str(item) in names:
            picked.add(names.index(str(item)))
        else:
            close = suggest(str(item), names)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(
                Problem(f"{path}.{i}", f"unknown class '{item}'; {hint}classes: {', '.join(names)}")
            )
    return [names[j] for j in sorted(picked)]
