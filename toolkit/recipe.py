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
    >>> r = parse_recipe({"task": "ood", "name": "demo", "dataset": {"name": "synthetic", "holdout": ["c3"]},
    ...                   "model": {"name": "mlp"}, "detectors": [{"name": "msp"}]})
    >>> r.dataset.params["n_classes"]
    4
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from toolkit import __version__
from toolkit.codehash import code_hash
from toolkit.errors import Problem, RecipeError, UsageError
from toolkit.kinds import KINDS, STAGES, list_sections, sections, single_sections, singular
from toolkit.params import FloatLike
from toolkit.registry import Entry, kind_name, registry, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["FloatLike"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TrainConfig(_Strict):
    """How the model is trained (``[train]``); see :func:`toolkit.training.train`."""

    epochs: int = Field(10, ge=0, strict=True, description="passes over the training split")
    batch_size: int = Field(128, ge=1, description="samples per step")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    fused: bool = Field(
        False,
        description="Adam/AdamW: the fused kernel (one pass over all parameters; much faster for "
        "transformers on a CPU, the same algorithm with other rounding); ignored where unsupported",
    )
    lr: FloatLike = Field(0.01, gt=0, description="learning rate")
    momentum: FloatLike = Field(0.9, ge=0, description="SGD momentum")
    nesterov: bool = False
    weight_decay: FloatLike = Field(0.0, ge=0)
    schedule: Literal["none", "cosine", "step", "linear"] = Field(
        "none",
        description="cosine, step: per epoch; linear: warm-up, then decay to 0, per step",
    )
    warmup: FloatLike = Field(
        0.0, ge=0, lt=1, description="fraction of the steps of the linear schedule's warm-up"
    )
    clip_norm: FloatLike | None = Field(None, gt=0, description="clip the gradients' global L2 norm to this")
    monitor: Literal["accuracy", "mcc"] = Field(
        "accuracy",
        description="the per-epoch score on the test split that select reads (mcc also enters the history)",
    )
    select: Literal["last", "best"] = Field(
        "last", description="keep the last epoch's weights, or those of the epoch with the best monitor score"
    )
    step_size: int = Field(30, ge=1, description="epochs between decays of the step schedule")
    gamma: FloatLike = Field(0.1, gt=0, description="decay factor of the step schedule")
    augment: list[Literal["random_crop", "hflip"]] = Field(default_factory=list)
    crop_padding: int = Field(4, ge=0, description="zero padding of random_crop")
    init_from: str | None = Field(
        None,
        description="a recipe whose trained model's backbone starts this one (path relative to "
        "this recipe's folder); it is trained first if the cache lacks it",
    )
    init_set: list[str] = Field(
        default_factory=list,
        description="overrides (key=value, as --set) applied to the init_from recipe",
    )


class RuntimeConfig(_Strict):
    """Machine settings (``[runtime]``): never part of a fingerprint; CLI flags override them."""

    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    threads: int | None = Field(
        1,
        ge=1,
        description="torch CPU threads; 1 is fastest for small models on a shared machine",
    )
    workers: int = Field(0, ge=0, description="data-loader worker processes")
    eval_batch_size: int = Field(1024, ge=1, description="batch size of inference passes")
    cache_features: bool = Field(
        True, description="train a frozen backbone's head on its features computed once"
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return value


class SweepConfig(_Strict):
    """A study over this recipe (``[sweep]``), run by ``toolkit sweep``; never part of a
    fingerprint, and ``toolkit run`` ignores it. Each key is a recipe key as ``--set``
    writes it (``dataset.holdout``, ``defenses.0.lam``)."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="every combination of these keys' values (the product)"
    )
    zip: dict[str, list[Any]] = Field(
        default_factory=dict, description="keys whose values go together, n-th with n-th (equal lengths)"
    )
    seeds: int = Field(1, ge=1, le=1000, description="runs per point, with seeds seed, seed + 1, ...")
    metrics: list[str] = Field(
        default_factory=list,
        description="the summary's columns: flattened metric names or patterns (detectors.*.auroc); "
        "empty: every number",
    )

    @field_validator("grid", "zip")
    @classmethod
    def _values(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", key):
                raise ValueError(f"'{key}' is not a recipe key such as train.lr or defenses.0.lam")
            if not values:
                raise ValueError(f"'{key}' has no values")
        return value


class ComponentConfig(BaseModel):
    """A component table: ``name`` plus the component's own parameters."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    name: str


class Recipe(_Strict):
    """The validated top level of a recipe, less its component sections.

    The component sections (``[dataset]``, ``[model]``, ``[[attacks]]``, ...) come from the
    table of kinds (:mod:`toolkit.kinds`) and are validated by :func:`sections_model`.
    """

    task: str
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    seed: int = Field(0, ge=0, lt=2**32, description="seeds NumPy, torch and the splits: 0 to 2**32 - 1")
    description: str = ""
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    evaluate: dict[str, Any] = Field(default_factory=dict)
    baselines: dict[str, list[str]] = Field(default_factory=dict)
    runtime: RuntimeConfig = Field(default_factory=lambda: RuntimeConfig())
    sweep: SweepConfig | None = None


def sections_model() -> type[BaseModel]:
    """The component sections as a pydantic model, one field per kind of the table."""
    key = tuple((k.section, k.many, k.required) for k in KINDS.values() if k.section)
    return _sections_model(key)


@cache
def _sections_model(key: tuple[tuple[str, bool, bool], ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for section, many, required in key:
        if many:
            fields[section] = (list[ComponentConfig], Field(default_factory=list))
        else:
            fields[section] = (ComponentConfig, ...) if required else (ComponentConfig | None, None)
    config = ConfigDict(extra="ignore", protected_namespaces=())
    model: type[BaseModel] = create_model("Sections", __config__=config, **fields)
    return model


def top_level() -> tuple[str, ...]:
    """Every top-level key a recipe may have."""
    return (*Recipe.model_fields, *sections())


_SECTION_MODELS: dict[str, type[BaseModel]] = {"train": TrainConfig, "runtime": RuntimeConfig}


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
        own["run"]["task"] = {**self.task.table(), "code": self.task.entry.code_id()}
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


# --------------------------------------------------------------------------- reading


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a recipe file; a missing or malformed file is a usage error naming the line."""
    p = Path(path)
    if not p.exists():
        raise UsageError(
            f"recipe file not found: {p}. Check the path, or name a packaged recipe "
            "(see them with: toolkit recipes ls)."
        )
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
                        if part in list_sections():
                            problems.append(Problem(path, "the recipe has no such list to index"))
                            break
                        node[part] = {}
                    node = node[part]
            else:
                problems.append(Problem(".".join(where[:-1]), "is not a table; cannot set a key in it"))
                break
    return problems


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
    set_keys = {o.partition("=")[0].strip() for o in overrides}

    recipe: Recipe | None = None
    top = {k: v for k, v in raw.items() if k not in sections()} if isinstance(raw, Mapping) else raw
    try:
        recipe = Recipe.model_validate(top)
    except ValidationError as exc:
        problems.extend(_problems(exc, prefix=(), known=_known_keys))
    try:
        sections_model().model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems(exc, prefix=(), known=_known_keys))

    components = _resolve_sections(raw, problems)
    _take_from_model(raw, components)
    task = _resolve_task(raw, problems)
    if task is not None:
        problems.extend(_check_sections(task, raw))
    resolved = None
    if not problems and recipe is not None and task is not None:
        resolved = ResolvedRecipe(recipe=recipe, task=task, components=components, source=source)
        problems.extend(_check_modalities(resolved))
        check = getattr(task.factory, "check", None)
        if callable(check):
            problems.extend(check(resolved))
    if resolved is not None and not problems and recipe is not None and recipe.train.init_from:
        resolved.init = _resolve_init(recipe.train.init_from, source, problems, recipe.train.init_set)
    if problems or resolved is None:
        origin = dict(origins or {})
        marked = [
            Problem(p.path, p.message + f" (set with {origin.get(p.path, '--set')})")
            if p.path in set_keys
            else p
            for p in problems
        ]
        raise RecipeError(marked, source=source)
    return resolved


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


def _resolve_sections(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, list[Component]]:
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


def _resolve_task(raw: Mapping[str, Any], problems: list[Problem]) -> Component | None:
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
            _problems(
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
        validated = _normalize_classes(factory, validated, path, problems)
    nested = _resolve_nested(factory, validated, path, problems)
    if nested is None:
        return None
    return Component(kind=kind, name=name, entry=entry, params=validated, family=family, nested=nested)


def _resolve_nested(
    factory: Any, params: dict[str, Any], path: str, problems: list[Problem]
) -> tuple[Component, ...] | None:
    """Components a component builds from its parameters, declared as ``nested = {"attack":
    ("attacks", "params", "evasion")}`` (the parameter naming a registered component, the
    parameter holding its parameters, and optionally the family it must have): resolved
    and validated like any other, their parameters normalized in place."""
    out = []
    for param, spec in (getattr(factory, "nested", None) or {}).items():
        kind, params_key, *family = spec
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
    return tuple(out)


def _take_from_model(raw: Mapping[str, Any], components: dict[str, list[Component]]) -> None:
    """Fill dataset parameters the recipe leaves out from the model's, as the dataset declares
    with ``FROM_MODEL = {"tokenizer": "checkpoint"}`` (dataset parameter -> model parameter):
    a text data set is tokenized by the model's own tokenizer unless the recipe says otherwise."""
    data, model = components.get("dataset") or [], components.get("model") or []
    table = raw.get("dataset")
    if not data or not model or not isinstance(table, Mapping):
        return
    for param, source in (declared(data[0].factory, "FROM_MODEL") or {}).items():
        if param not in table and model[0].params.get(source) is not None:
            data[0].params[param] = model[0].params[source]


def declared(factory: Any, attr: str) -> Any:
    """A declaration of a dataset: a module-level constant next to its ``load`` function."""
    module = sys.modules.get(getattr(factory, "__module__", ""), None)
    return getattr(factory, attr, getattr(module, attr, None))


def dataset_modality(component: Component) -> str | None:
    """The dataset's modality if it is known before loading (``MODALITY`` or a parameter)."""
    value = component.params.get("modality", declared(component.factory, "MODALITY"))
    return value if isinstance(value, str) else None


def _normalize_classes(
    factory: Any, params: dict[str, Any], path: str, problems: list[Problem]
) -> dict[str, Any]:
    """Class references (``holdout``, ``classes``) as names in class order, when the dataset
    declares ``CLASS_NAMES``: ``[9]`` and ``["9"]`` are then the same recipe."""
    names = declared(factory, "CLASS_NAMES")
    if not isinstance(names, list | tuple) or not names:
        return params
    names = [str(n) for n in names]
    out = dict(params)
    for key in ("holdout", "classes"):
        value = params.get(key)
        if not isinstance(value, list):
            continue
        picked: set[int] = set()
        for i, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                if 0 <= item < len(names):
                    picked.add(item)
                else:
                    problems.append(
                        Problem(
                            f"{path}.{key}.{i}", f"class index {item} is out of range (0 to {len(names) - 1})"
                        )
                    )
            elif str(item) in names:
                picked.add(names.index(str(item)))
            else:
                close = suggest(str(item), names)
                hint = f"did you mean '{close[0]}'? " if close else ""
                problems.append(
                    Problem(f"{path}.{key}.{i}", f"unknown class '{item}'; {hint}classes: {', '.join(names)}")
                )
        out[key] = [names[j] for j in sorted(picked)]
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


def _check_modalities(recipe: ResolvedRecipe) -> list[Problem]:
    """Components that declare ``modalities`` must support the data's (when it is known)."""
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
                supported = getattr(part.factory, "modalities", None)
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
    return problems


def _check_sections(task: Component, raw: Mapping[str, Any]) -> list[Problem]:
    """A task says which sections it reads (``uses``); others in the recipe are mistakes."""
    attrs = task.factory
    uses = tuple(getattr(attrs, "uses", ()))
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
    for section in tuple(getattr(attrs, "requires", ())):
        if not raw.get(section):
            problems.append(Problem(section, f"the '{task.name}' task needs at least one entry in {section}"))
    problems += _check_baselines(task.name, dict(getattr(attrs, "baselines", {}) or {}), raw.get("baselines"))
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
        return list(top_level())
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
            text = str(err["msg"]).removeprefix("Value error, ")  # our own validators' words
            msg = f"{text} (got {shown})"
        out.append(Problem(path, msg))
    return out
