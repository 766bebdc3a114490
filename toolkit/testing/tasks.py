"""The conformance check of tasks."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from toolkit.kinds import KINDS
from toolkit.testing._common import (
    _about,
    task_sections,
)

# --------------------------------------------------------------------------- tasks


def _example_recipe(task: Any, uses: Sequence[str]) -> Any:
    """A resolved recipe of built-in components (a synthetic dataset, an MLP and one
    component for each list section the task uses) to call a task's ``check`` with."""
    from toolkit.protocols import family_of
    from toolkit.recipe import Component, Recipe, ResolvedRecipe
    from toolkit.registry import Entry, registry

    examples = {
        "dataset": ("datasets", "synthetic", {"holdout": ["c3"]}),
        "model": ("models", "mlp", {}),
        "attacks": ("attacks", "fgsm", {}),
        "defenses": ("defenses", "adversarial_training", {}),
        "detectors": ("detectors", "msp", {}),
        "explainers": ("explainers", "saliency", {}),
    }

    def component(kind: str, name: str, params: dict[str, Any]) -> Component:
        entry = registry(kind).get(name)
        validated = entry.signature().validate(params, f"{kind} {name}")
        return Component(kind, name, entry, validated, family_of(KINDS[kind], entry.load()))

    components = {
        section: [component(*examples[section])]
        for section in examples
        if section == "dataset" or section in uses
    }
    entry = Entry("tasks", "conformance", f"{task.__module__}:{task.__qualname__}")
    spec = Component("tasks", "conformance", entry, {}, "task")
    return ResolvedRecipe(Recipe(task="conformance", name="conformance"), spec, components)


def check_task(factory: Any, *, params: Mapping[str, Any] | None = None, seed: int = 0) -> None:
    """Check a task class: ``run(ctx)``, its declarations and its optional ``check``.

    Running a task needs a whole pipeline; the toolkit's own tests run its tasks end to end.
    """
    del seed  # a task's randomness is the recipe's; the signature matches the other checks
    with _about(factory, "task"):
        assert inspect.isclass(factory), f"a task is a class, not {type(factory).__name__}"
        cls: Any = factory  # any class: the attributes below are what is checked
        assert callable(getattr(cls, "run", None)), "a task needs a run(ctx) method"
        uses = getattr(cls, "uses", ())
        assert isinstance(uses, tuple) and all(isinstance(s, str) for s in uses), (
            f"uses must be a tuple of section names, got {uses!r}"
        )
        unknown = [s for s in uses if s not in task_sections()]
        assert not unknown, f"uses names unknown sections {unknown}; known: {', '.join(task_sections())}"
        requires = getattr(cls, "requires", ())
        assert isinstance(requires, tuple) and all(isinstance(s, str) for s in requires), (
            f"requires must be a tuple of section names, got {requires!r}"
        )
        outside = [s for s in requires if s not in uses]
        assert not outside, f"requires names sections {outside} that are not in uses {uses}"
        baselines = getattr(cls, "baselines", {}) or {}
        assert isinstance(baselines, Mapping), f"baselines must map a library to run names, got {baselines!r}"
        for library, names in baselines.items():
            assert isinstance(library, str), f"baselines: the library {library!r} is not a string"
            assert isinstance(names, Sequence) and not isinstance(names, str), (
                f"baselines[{library!r}] must be a sequence of names, got {names!r}"
            )
            assert all(isinstance(n, str) for n in names), (
                f"baselines[{library!r}] holds names that are not strings"
            )
        if baselines:
            assert "baselines" in uses, "the task offers baselines but does not list 'baselines' in uses"
        try:
            task = cls(**dict(params or {}))
        except TypeError as exc:
            raise AssertionError(f"constructing it with {dict(params or {})} failed: {exc}") from None
        try:
            inspect.signature(task.run).bind(object())
        except TypeError:
            raise AssertionError("run() must take one argument, the task context: run(self, ctx)") from None
        if "check" in dir(cls):
            raw = inspect.getattr_static(cls, "check")
            assert isinstance(raw, classmethod | staticmethod), (
                "check must be a classmethod (or staticmethod) taking the resolved recipe: "
                "it runs at validate time, before the task is constructed"
            )
            problems = cls.check(_example_recipe(cls, uses))
            assert isinstance(problems, list), f"check(recipe) returned {type(problems).__name__}, not a list"
            for p in problems:
                assert hasattr(p, "path") and hasattr(p, "message"), (
                    f"check(recipe) returned {p!r}; give problems as toolkit.errors.Problem(path, message)"
                )
