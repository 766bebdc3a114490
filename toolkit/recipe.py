"""TOML recipes: parsing, ``--set`` overrides, validation and fingerprints.

A recipe has a fixed top level, validated by pydantic with unknown keys forbidden::

    task = "ood"
    name = "quickstart"
    seed = 0

    [dataset]
    name = "digits"
    holdout = ["9"]

    [model]
    name = "mlp"

    [train]
    epochs = 20

    [[detectors]]
    name = "msp"

    [evaluate]
    tpr = 0.95

Each component table (``dataset``, ``model``, every entry of ``attacks``, ``defenses``,
``detectors`` and ``explainers``) names a registered component; its other keys are that
component's keyword parameters, validated against the component's typed signature, and
``[evaluate]`` holds the task's own parameters. All problems are reported at once, each
with its key path and, where one is close, a suggestion.

Example:
    >>> from toolkit.recipe import parse_recipe
    >>> r = parse_recipe({"task": "ood", "name": "demo", "dataset": {"name": "synthetic"},
    ...                   "model": {"name": "mlp"}, "detectors": [{"name": "msp"}]})
    >>> r.dataset.params["n_classes"]
    4
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from toolkit import __version__
from toolkit.errors import Problem, RecipeError, UsageError
from toolkit.registry import SINGULAR, Entry, kind_name, registry, suggest, to_number

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: A float that may also be written as a numeric string such as ``"8/255"``.
FloatLike = Annotated[float, BeforeValidator(to_number)]

#: Component sections of a recipe that hold a list of component tables.
LIST_SECTIONS = ("attacks", "defenses", "detectors", "explainers")
#: Component sections that hold one component table.
SINGLE_SECTIONS = ("dataset", "model")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TrainConfig(_Strict):
    """How the model is trained (``[train]``); see :func:`toolkit.training.train`."""

    epochs: int = Field(10, ge=0, description="passes over the training split")
    batch_size: int = Field(128, ge=1, description="samples per step")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: FloatLike = Field(0.01, gt=0, description="learning rate")
    momentum: FloatLike = Field(0.9, ge=0, description="SGD momentum")
    nesterov: bool = False
    weight_decay: FloatLike = Field(0.0, ge=0)
    schedule: Literal["none", "cosine", "step"] = "none"
    step_size: int = Field(30, ge=1, description="epochs between decays of the step schedule")
    gamma: FloatLike = Field(0.1, gt=0, description="decay factor of the step schedule")
    augment: list[Literal["random_crop", "hflip"]] = Field(default_factory=list)
    crop_padding: int = Field(4, ge=0, description="zero padding of random_crop")


class RuntimeConfig(_Strict):
    """Machine settings (``[runtime]``): never part of a fingerprint; CLI flags override them."""

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")
    threads: int | None = Field(
        1,
        ge=1,
        description="torch CPU threads; 1 is fastest for small models on a shared machine",
    )
    workers: int = Field(0, ge=0, description="data-loader worker processes")
    eval_batch_size: int = Field(1024, ge=1, description="batch size of inference passes")


class ComponentConfig(BaseModel):
    """A component table: ``name`` plus the component's own parameters."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    name: str


class Recipe(_Strict):
    """The validated top level of a recipe."""

    task: str
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    seed: int = 0
    description: str = ""
    dataset: ComponentConfig
    model: ComponentConfig | None = None
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    attacks: list[ComponentConfig] = Field(default_factory=list)
    defenses: list[ComponentConfig] = Field(default_factory=list)
    detectors: list[ComponentConfig] = Field(default_factory=list)
    explainers: list[ComponentConfig] = Field(default_factory=list)
    evaluate: dict[str, Any] = Field(default_factory=dict)
    baselines: dict[str, list[str]] = Field(default_factory=dict)
    runtime: RuntimeConfig = Field(default_factory=lambda: RuntimeConfig())


_SECTION_MODELS: dict[str, type[BaseModel]] = {"train": TrainConfig, "runtime": RuntimeConfig}


@dataclass(frozen=True)
class Component:
    """A component named in a recipe, resolved to its registry entry and validated parameters."""

    kind: str
    name: str
    entry: Entry
    params: dict[str, Any]

    def create(self, *args: Any) -> Any:
        """Build the component: its factory called with ``args`` and the recipe's parameters."""
        return self.entry.load()(*args, **self.params)

    def table(self) -> dict[str, Any]:
        """The component's recipe table, defaults filled in."""
        return {"name": self.name, **self.params}


@dataclass
class ResolvedRecipe:
    """A recipe whose every component is resolved and whose every parameter is validated."""

    recipe: Recipe
    task: Component
    dataset: Component
    model: Component | None
    components: dict[str, list[Component]] = field(default_factory=dict)
    source: str | None = None

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def seed(self) -> int:
        return self.recipe.seed

    @property
    def detectors(self) -> list[Component]:
        return self.components.get("detectors", [])

    @property
    def attacks(self) -> list[Component]:
        return self.components.get("attacks", [])

    @property
    def defenses(self) -> list[Component]:
        return self.components.get("defenses", [])

    @property
    def explainers(self) -> list[Component]:
        return self.components.get("explainers", [])

    def to_dict(self, *, runtime: bool = True) -> dict[str, Any]:
        """The resolved recipe: every default filled in (``recipe.toml`` of a run)."""
        r = self.recipe
        out: dict[str, Any] = {"task": r.task, "name": r.name, "seed": r.seed}
        if r.description:
            out["description"] = r.description
        out["dataset"] = self.dataset.table()
        if self.model is not None:
            out["model"] = self.model.table()
        out["train"] = r.train.model_dump()
        for section in LIST_SECTIONS:
            if self.components.get(section):
                out[section] = [c.table() for c in self.components[section]]
        out["evaluate"] = dict(self.task.params)
        if r.baselines:
            out["baselines"] = {k: list(v) for k, v in r.baselines.items()}
        if runtime:
            out["runtime"] = r.runtime.model_dump()
        return out

    def label(self, section: str, index: int) -> str:
        """How results name entry ``index`` of a list section: its name, with the index when
        the recipe names the same component more than once (``msp``, or ``msp_0`` and ``msp_1``)."""
        specs = self.components.get(section, [])
        short = specs[index].name.rpartition(":")[2]
        same = [s for s in specs if s.name.rpartition(":")[2] == short]
        return short if len(same) == 1 else f"{short}_{index}"

    def defenses_by_hook(self, hook: str) -> list[Component]:
        """The defenses that hook into ``"data"``, ``"batch"`` (training batches) or ``"train"``
        (a training loop of their own, run on the trained model), read from each defense's
        class attribute ``hook``."""
        return [d for d in self.defenses if d.entry.signature().attributes.get("hook", "train") == hook]

    def stages(self) -> dict[str, dict[str, Any]]:
        """What each stage's result depends on; a stage includes its parents.

        ``data``: the dataset and seed. ``train``: the model, the training settings and the
        defenses that act on the data or on training batches. ``defend``: the defenses with a
        training loop of their own (on the trained model). ``run``: everything else.
        """
        d = self.to_dict(runtime=False)
        base = {"toolkit": __version__, "seed": d["seed"]}
        data = {**base, "dataset": d["dataset"]}
        train = {
            **data,
            "model": d.get("model"),
            "train": d["train"],
            "defenses": [c.table() for c in self.defenses if c not in self.defenses_by_hook("train")],
        }
        defend = {**train, "defenses_after_training": [c.table() for c in self.defenses_by_hook("train")]}
        run = {
            **defend,
            "task": d["task"],
            "evaluate": d["evaluate"],
            "baselines": d.get("baselines", {}),
            **{k: d.get(k, []) for k in ("attacks", "detectors", "explainers")},
        }
        return {"data": data, "train": train, "defend": defend, "run": run}

    def fingerprints(self) -> dict[str, str]:
        """sha256 of the canonical JSON of each stage (``data``, ``train``, ``defend``, ``run``)."""
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


# --------------------------------------------------------------------------- reading


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a recipe file; a missing or malformed file is a usage error naming the line."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"recipe file not found: {p}. Check the path (ready recipes are in recipes/).")
    if p.is_dir():
        raise UsageError(f"{p} is a folder, not a recipe file: name a .toml file in it.")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe {p}: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p} is not valid TOML: {exc}. Fix the file at that line.") from exc


def parse_value(text: str) -> Any:
    """Parse an override value as TOML (``3``, ``0.1``, ``["frog"]``, ``true``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> list[Problem]:
    """Apply ``key.path=value`` overrides in place; lists are addressed by index.

    A key that the recipe does not have is added, and validation then rejects it unless the
    schema or the component's signature knows it; an index past the end of a list, or a
    path through a value that is not a table, is a problem.
    """
    problems = []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem("--set", f"'{item}' is not key=value (e.g. train.epochs=3)"))
            continue
        parts = key.split(".")
        node: Any = data
        where: list[str] = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where.append(part)
            path = ".".join(where)
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    span = f" (indices 0 to {len(node) - 1})" if node else ""
                    problems.append(Problem(path, f"no such entry: the list has {len(node)} entries{span}"))
                    break
                if last:
                    node[int(part)] = parse_value(value)
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = parse_value(value)
                else:
                    if part not in node:
                        if part in LIST_SECTIONS:
                            problems.append(Problem(path, "the recipe has no such list to index"))
                            break
                        node[part] = {}
                    node = node[part]
            else:
                problems.append(Problem(".".join(where[:-1]), "is not a table; cannot set a key in it"))
                break
    return problems


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> ResolvedRecipe:
    """Read, override and validate a recipe file; raises :class:`RecipeError` listing every problem."""
    data = read_toml(path)
    return parse_recipe(data, overrides, source=str(path))


def parse_recipe(
    data: Mapping[str, Any], overrides: Iterable[str] = (), *, source: str | None = None
) -> ResolvedRecipe:
    """Validate a recipe given as a dict (what :func:`read_toml` returns)."""
    raw = json.loads(json.dumps(data, default=str))  # a deep copy of plain values
    overrides = list(overrides)
    problems = apply_overrides(raw, overrides)
    set_keys = {o.partition("=")[0].strip() for o in overrides}

    recipe: Recipe | None = None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems(exc, prefix=(), known=_known_keys))

    resolved_components: dict[str, Any] = {}
    for section in SINGLE_SECTIONS:
        table = raw.get(section)
        if isinstance(table, Mapping) and isinstance(table.get("name"), str):
            resolved_components[section] = _resolve(section, table, section, problems)
    for section in LIST_SECTIONS:
        tables = raw.get(section)
        if isinstance(tables, list):
            resolved_components[section] = [
                _resolve(section, t, f"{section}.{i}", problems)
                for i, t in enumerate(tables)
                if isinstance(t, Mapping) and isinstance(t.get("name"), str)
            ]

    task = None
    evaluate = raw.get("evaluate", {})
    if isinstance(evaluate, Mapping) and "name" in evaluate:
        problems.append(Problem("evaluate.name", "unknown key; the top-level 'task' key names the task"))
        evaluate = {k: v for k, v in evaluate.items() if k != "name"}
    if isinstance(raw.get("task"), str):
        task = _resolve(
            "tasks",
            {"name": raw["task"], **(evaluate if isinstance(evaluate, Mapping) else {})},
            "evaluate",
            problems,
            name_path="task",
        )
    if task is not None:
        problems.extend(_check_sections(task, raw))

    if problems:
        marked = [
            Problem(p.path, p.message + (" (set with --set)" if p.path in set_keys else "")) for p in problems
        ]
        raise RecipeError(marked, source=source)
    assert recipe is not None and task is not None
    return ResolvedRecipe(
        recipe=recipe,
        task=task,
        dataset=resolved_components["dataset"],
        model=resolved_components.get("model"),
        components={s: resolved_components.get(s, []) for s in LIST_SECTIONS},
        source=source,
    )


def _resolve(
    kind: str,
    table: Mapping[str, Any],
    path: str,
    problems: list[Problem],
    *,
    name_path: str | None = None,
) -> Component | None:
    from toolkit.errors import ToolkitError

    kind = kind_name(kind)
    name = table["name"]
    try:
        entry = registry(kind).get(name)
        sig = entry.signature()
    except ToolkitError as exc:
        problems.append(Problem(name_path or f"{path}.name", str(exc)))
        return None
    params = {k: v for k, v in table.items() if k != "name"}
    title = f"{SINGULAR[kind]} {name}"
    try:
        validated = sig.validate(params, title)
    except ValidationError as exc:
        known = [p.name for p in sig.params]
        problems.extend(
            _problems(
                exc,
                prefix=tuple(path.split(".")),
                known=lambda _loc: known,
                owner=f"{SINGULAR[kind]} '{name}'",
            )
        )
        return None
    return Component(kind=kind, name=name, entry=entry, params=validated)


def _check_sections(task: Component, raw: Mapping[str, Any]) -> list[Problem]:
    """A task says which sections it reads (``uses``); others in the recipe are mistakes."""
    sig = task.entry.signature()
    uses = tuple(sig.attributes.get("uses", ()))
    problems: list[Problem] = []
    if not uses:
        return problems
    for section in (*LIST_SECTIONS, "model", "baselines"):
        present = raw.get(section)
        if present and section not in uses:
            problems.append(
                Problem(section, f"the '{task.name}' task does not use {section}; remove this section")
            )
    if "model" in uses and not raw.get("model"):
        problems.append(Problem("model", f"the '{task.name}' task needs a [model] table"))
    for section in tuple(sig.attributes.get("requires", ())):
        if not raw.get(section):
            problems.append(Problem(section, f"the '{task.name}' task needs at least one entry in {section}"))
    problems += _check_baselines(task.name, dict(sig.attributes.get("baselines", {})), raw.get("baselines"))
    return problems


def _check_baselines(task: str, offered: dict[str, Any], requested: Any) -> list[Problem]:
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


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    if not loc:
        return list(Recipe.model_fields)
    model = _SECTION_MODELS.get(str(loc[0]))
    return list(model.model_fields) if model else []


def _problems(
    exc: ValidationError,
    *,
    prefix: tuple[str, ...],
    known: Any,
    owner: str | None = None,
) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in (*prefix, *loc))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            candidates = known(loc[:-1])
            close = suggest(key, candidates)
            parent = ".".join(str(p) for p in (*prefix, *loc[:-1]))
            if close:
                suggestion = f", did you mean {parent + '.' if parent else ''}{close[0]}?"
            elif candidates:
                suggestion = f"; known keys: {', '.join(candidates)}"
            else:
                suggestion = f"; {owner} takes no parameters" if owner else ""
            msg = f"unknown key{' for ' + owner if owner else ''}{suggestion}"
        elif kind == "missing":
            msg = "missing required key" + (f" of {owner}" if owner else "")
        else:
            got = err.get("input")
            shown = json.dumps(got, default=str) if not isinstance(got, Mapping) else "a table"
            msg = f"{err['msg']} (got {shown})"
        out.append(Problem(path, msg))
    return out
