"""The resolved recipe: every component found and validated, and the fingerprint of each stage.

A :class:`ResolvedRecipe` is what :func:`toolkit.recipe.parse_recipe` returns and what a run
reads. :meth:`ResolvedRecipe.stages` says what each stage's result depends on, and
:meth:`ResolvedRecipe.fingerprints` hashes it: the sha256 of its :func:`canonical_json`,
the key of that stage's results in the artifact cache.

Example:
    >>> fingerprint({"b": 1, "a": [1.0, "x"]}) == fingerprint({"a": [1.0, "x"], "b": 1})
    True
    >>> canonical_json({"b": 1, "a": None})
    '{"a":null,"b":1}'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.codehash import code_hash
from toolkit.kinds import KINDS, STAGES, list_sections, single_sections
from toolkit.recipe.schema import Recipe
from toolkit.registry import Entry, registry
from toolkit.version import __version__


@dataclass(frozen=True)
class Component:
    """A component named in a recipe: its registry entry, validated parameters and family."""

    kind: str
    name: str
    entry: Entry
    params: dict[str, Any]
    family: str | None = None
    nested: tuple[Component, ...] = ()

    @property
    def stage(self) -> str:
        """The stage whose fingerprint this component enters (by kind and family)."""
        return KINDS[self.kind].stage(self.family)

    @property
    def factory(self) -> Any:
        """The imported class or function."""
        return self.entry.load()

    def create(self, *args: Any) -> Any:
        """Build the component: its factory called with ``args`` and the recipe's parameters."""
        return self.factory(*args, **self.params)

    def table(self) -> dict[str, Any]:
        """The component's recipe table, defaults filled in."""
        return {"name": self.name, **self.params}


@dataclass
class ResolvedRecipe:
    """A recipe whose every component is resolved and whose every parameter is validated.

    ``components`` maps each component section (``dataset``, ``model``, ``attacks``, ...)
    to its components, in recipe order (a list of at most one for single sections).
    """

    recipe: Recipe
    task: Component
    components: dict[str, list[Component]] = field(default_factory=dict)
    source: str | None = None
    #: The recipe named by ``[train] init_from``, resolved.
    init: ResolvedRecipe | None = None

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def seed(self) -> int:
        return self.recipe.seed

    def section(self, name: str) -> list[Component]:
        """The components of a section (empty if the recipe has none)."""
        return self.components.get(name, [])

    def family(self, section: str, family: str) -> list[Component]:
        """The components of ``section`` of one family (``family("defenses", "batch")``)."""
        return [c for c in self.section(section) if c.family == family]

    @property
    def dataset(self) -> Component:
        return self.section("dataset")[0]

    @property
    def model(self) -> Component | None:
        found = self.section("model")
        return found[0] if found else None

    @property
    def attacks(self) -> list[Component]:
        return self.section("attacks")

    @property
    def defenses(self) -> list[Component]:
        return self.section("defenses")

    @property
    def detectors(self) -> list[Component]:
        return self.section("detectors")

    @property
    def explainers(self) -> list[Component]:
        return self.section("explainers")

    def without(self, section: str) -> ResolvedRecipe:
        """The same recipe without the components of ``section`` (e.g. the undefended twin)."""
        import dataclasses

        return dataclasses.replace(self, components={**self.components, section: []})

    def to_dict(self, *, runtime: bool = True) -> dict[str, Any]:
        """The resolved recipe: every default filled in (``recipe.toml`` of a run)."""
        r = self.recipe
        out: dict[str, Any] = {"task": r.task, "name": r.name, "seed": r.seed}
        if r.description:
            out["description"] = r.description
        for section in single_sections():
            if self.section(section):
                out[section] = self.section(section)[0].table()
        out["train"] = r.train.model_dump()
        if self.init is not None and self.init.source:  # absolute, so the run folder's copy resolves
            out["train"]["init_from"] = str(Path(self.init.source).resolve())
        for section in list_sections():
            if self.section(section):
                out[section] = [c.table() for c in self.section(section)]
        out["evaluate"] = dict(self.task.params)
        if r.baselines:
            out["baselines"] = {k: list(v) for k, v in r.baselines.items()}
        if runtime:
            out["runtime"] = r.runtime.model_dump()
        return out

    def label(self, section: str, index: int) -> str:
        """How results name entry ``index`` of a list section: its name; ``dist:name`` for a
        plugin's component whose name another distribution also registers, and for both when
        components of one name from different distributions meet; with the index when the
        recipe names the same one more than once (``msp``, or ``msp_0`` and ``msp_1``)."""
        specs = self.section(section)
        entry = specs[index].entry
        same = [s for s in specs if s.entry.name == entry.name]
        if len(same) == 1:  # a plugin's component whose name the toolkit also has: dist:name
            clash = not entry.builtin and entry.name in registry(entry.kind).clashes()
            return entry.qualified if clash else entry.name
        clash = len({s.entry.dist for s in same}) > 1
        base = entry.qualified if clash else entry.name
        twins = [s for s in same if s.entry == entry]
        return base if len(twins) == 1 else f"{base}_{index}"

    def stages(self) -> dict[str, dict[str, Any]]:
        """What each stage's result depends on; a stage includes its parents.

        Each component enters the stage of its kind and family (:mod:`toolkit.kinds`):
        ``data`` the dataset; ``poison`` poisoning attacks; ``train`` the model, the
        ``[train]`` table and defenses of the data and batch families; ``defend`` defenses
        with a training loop of their own; ``run`` the task, evasion attacks, detectors and
        explainers. Each component's code enters with it (:meth:`Entry.code_id`), and the
        training loop's source enters ``train``.
        """
        own: dict[str, dict[str, Any]] = {stage: {} for stage in STAGES}
        for section, comps in self.components.items():
            for c in comps:
                code: dict[str, Any] = {"code": c.entry.code_id()}
                if c.nested:  # components a component builds (the attack of adversarial training)
                    code["nested"] = [n.entry.code_id() for n in c.nested]
                own[c.stage].setdefault(section, []).append({**c.table(), **code})
        own["train"]["train"] = self.recipe.train.model_dump()
        if self.init is not None:  # the backbone's recipe, not the path it was found at
            own["train"]["train"]["init_from"] = self.init.fingerprints()["train"]
        own["train"]["loop"] = code_hash("toolkit.training")
        task: dict[str, Any] = {**self.task.table(), "code": self.task.entry.code_id()}
        if self.task.nested:  # data sets the task loads itself (the ood task's near and far sets)
            task["nested"] = [n.entry.code_id() for n in self.task.nested]
        own["run"]["task"] = task
        own["run"]["baselines"] = {k: list(v) for k, v in self.recipe.baselines.items()}
        out: dict[str, dict[str, Any]] = {}
        parent: dict[str, Any] = {"toolkit": __version__, "seed": self.recipe.seed}
        for stage in STAGES:
            parent = {**parent, stage: own[stage]}
            out[stage] = parent
        return out

    def fingerprints(self) -> dict[str, str]:
        """sha256 of the canonical JSON of each stage (``data``, ``poison``, ``train``, ...)."""
        return {stage: fingerprint(spec) for stage, spec in self.stages().items()}

    def to_toml(self) -> str:
        """The resolved recipe as TOML text."""
        import tomli_w

        return tomli_w.dumps(_drop_none(self.to_dict()))


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(obj: Any) -> str:
    """The sha256 hex digest of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list | tuple):
        return [_drop_none(v) for v in obj]
    return obj
