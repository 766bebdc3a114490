"""What a task needs of the components of a section, named once and checked by ``validate``.

A task declares ``needs = {section: capability}``; :func:`check_needs` runs when a recipe is
resolved (``toolkit validate`` and every run), and refuses a component that lacks a member,
naming it, its section entry and what is missing (exit status 2), so nothing that validates
fails mid-run for want of a method.

Example:
    >>> class FlipSome:
    ...     family = "poisoning"
    ...     def poison(self, bundle, rng): ...
    ...     def trigger(self, x): ...
    >>> TRIGGER_POISONING.missing(FlipSome)
    ['eligible(y)', 'relabel(y)']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.declarations import declared
from toolkit.errors import Problem

if TYPE_CHECKING:
    from toolkit.recipe.resolved import ResolvedRecipe


@dataclass(frozen=True)
class Capability:
    """Members a component must have for a task.

    Args:
        description: what the task asks for, in words ("a poisoning attack with a trigger
            and a target class").
        family: the family the component must be of (``None``: any of its kind).
        members: the methods it must have, as ``{name: "name(args): meaning"}``.
    """

    description: str
    family: str | None = None
    members: tuple[tuple[str, str], ...] = ()

    def missing(self, factory: Any) -> list[str]:
        """The members ``factory`` (a component's class) lacks, as their signatures."""
        return [shown for name, shown in self.members if not callable(getattr(factory, name, None))]


EVASION = Capability("an evasion attack, __call__(model, x, y) -> x_adv", family="evasion")

DETECTOR = Capability(
    "detectors that score inputs, fit(model, train) and score(model, outputs)", family="detector"
)
"""Tasks that score inputs (``ood``, ``evasion``) take detectors of that family; a model
scanner (``neural_cleanse``) belongs in the ``backdoor`` task."""

TRIGGER_POISONING = Capability(
    "a poisoning attack with a trigger and a target class",
    family="poisoning",
    members=(
        ("trigger", "trigger(x)"),
        ("eligible", "eligible(y)"),
        ("relabel", "relabel(y)"),
    ),
)
"""The backdoor task's attack: ``trigger(x)`` (test inputs with the trigger),
``eligible(y)`` (a boolean mask of the samples of the source classes, the ones the trigger
is meant to move) and ``relabel(y)`` (the labels the attack wants for them)."""


def check_needs(recipe: ResolvedRecipe) -> list[Problem]:
    """Problems with components that lack what the recipe's task ``needs`` of their section."""
    problems = []
    needs: dict[str, Capability] = declared(recipe.task.factory, "needs") or {}
    task = recipe.task.name
    for section, capability in needs.items():
        for i, spec in enumerate(recipe.section(section)):
            where = f"{section}.{i}.name"
            if capability.family is not None and spec.family != capability.family:
                problems.append(Problem(where, f"the {task} task needs {capability.description}; "
                                               f"'{spec.name}' is {spec.family}"))  # fmt: skip
                continue
            gap = capability.missing(spec.factory)
            if gap:
                problems.append(
                    Problem(
                        where,
                        f"the {task} task needs {capability.description}; '{spec.name}' "
                        f"({spec.entry.target}, {spec.entry.provider}) lacks {', '.join(gap)}",
                    )
                )
    return problems
