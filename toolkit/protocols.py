"""What each kind and family of component must implement, checked when a recipe is resolved.

+-------------+---------------------+---------------------------------------------------------+
| kind        | family (stage)      | contract                                                |
+=============+=====================+=========================================================+
| datasets    | dataset (data)      | ``load(seed, **params) -> DataBundle``                  |
| models      | model (train)       | ``build(info, **params) -> nn.Module``                  |
| attacks     | evasion (run)       | subclass :class:`EvasionAttack`: ``__call__(model, x, y)``|
|             | poisoning (poison)  | subclass :class:`PoisoningAttack`: ``poison``, ``trigger``|
| defenses    | data (train)        | subclass :class:`DataDefense`: ``transform(bundle)``    |
|             | batch (train)       | subclass :class:`BatchDefense`: ``transform(model, x, y)``|
|             | train (defend)      | subclass :class:`TrainingDefense`: ``train(model, data)``|
| detectors   | detector (run)      | ``fit(model, train)``, ``score(model, outputs)``        |
| explainers  | explainer (run)     | ``explain(model, inputs, targets)``                     |
| tasks       | task (run)          | ``run(ctx) -> TaskResult``                              |
+-------------+---------------------+---------------------------------------------------------+

Attacks and defenses declare their family by their base class (the verb alone would be
ambiguous: two families call theirs ``transform``); detectors, explainers and tasks are
checked by the methods they have, so a plugin needs no import from the toolkit for them.
Every component may define ``bind(info)``: the run calls it once with the data's
:class:`~toolkit.data.base.DataInfo` before the component is used (attacks read the input
domain from it).

A component that satisfies no family of its kind is refused by ``toolkit validate`` with
a message naming the component, its distribution and the missing methods. What a task needs
beyond the family (a poisoning attack with a trigger and a target class) is a capability
(:mod:`toolkit.capabilities`, re-exported here); what a component may declare beyond its
verb is listed in :mod:`toolkit.declarations`.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from toolkit.capabilities import EVASION, TRIGGER_POISONING, Capability  # noqa: F401 - re-exported
from toolkit.data.domain import Domain

if TYPE_CHECKING:
    import torch
    from torch import nn

    from toolkit.data.base import DataBundle, DataInfo
    from toolkit.data.inputs import Inputs
    from toolkit.detectors.scan import ModelScan
    from toolkit.kinds import Kind
    from toolkit.outputs import Outputs
    from toolkit.results import TaskResult


# --------------------------------------------------------------------------- factories


@runtime_checkable
class Dataset(Protocol):
    """A dataset component: a function ``load(seed, **params) -> DataBundle``.

    Optional module-level declarations let ``toolkit validate`` check a recipe before any
    data is loaded: ``CLASS_NAMES`` (the class names, when they are known without reading
    the data; ``holdout`` and ``classes`` parameters are then checked and normalized to
    names) and ``MODALITY`` (``"image"``, ``"tabular"`` or ``"text"``; a ``modality``
    parameter of the dataset overrides it).
    """

    def __call__(self, seed: int, /, **params: Any) -> DataBundle: ...


@runtime_checkable
class Model(Protocol):
    """A model component: a function ``build(info, **params) -> nn.Module``.

    The module takes one argument, the batch as :func:`toolkit.data.inputs.to_model_input`
    gives it (images as floats in ``[0, 1]``, tabular features, or a mapping of named
    tensors), and returns logits ``(N, num_classes)``. Feature-based detectors also need
    ``forward_features(x) -> (N, F)`` and ``head(features) -> logits``
    (:class:`toolkit.models.base.Classifier` has both).
    """

    def __call__(self, info: DataInfo, /, **params: Any) -> nn.Module: ...


# --------------------------------------------------------------------------- attacks


class EvasionAttack(ABC):
    """An evasion attack: ``attack(model, x, y) -> x_adv`` on a batch of model inputs.

    ``x_adv`` has ``x``'s shape and lies in :attr:`domain` (the data's valid inputs, set by
    :meth:`bind`; ``[0, 1]`` until then). The model's weights, buffers and train/eval mode
    are left as they were (use :func:`toolkit.modelstate.frozen`).

    Declarations a task reads:

    - ``budget``: the constructor parameter that is the attack's budget (a dotted path
      such as ``"params.eps"`` for adapters), or ``None`` if it has none; budget sweeps
      (``[evaluate] eps = [...]`` of the evasion task) need one.
    - ``targets_``: after a call of a targeted attack, the chosen target labels ``(N,)``;
      ``None`` for an untargeted attack.
    - ``eval_mode``: whether the attack runs the model in eval mode.
    - ``modalities``: the data modalities it can attack.
    """

    family: ClassVar[str] = "evasion"
    budget: ClassVar[str | None] = None
    modalities: ClassVar[tuple[str, ...]] = ("image", "tabular")
    targets_: torch.Tensor | None = None
    eval_mode: bool = True
    domain: Domain = Domain.unit()

    def bind(self, info: DataInfo) -> EvasionAttack:
        """Attack inputs of the data described by ``info`` (reads its input domain)."""
        self.domain = info.input_domain
        return self

    @classmethod
    def budget_in(cls, params: Mapping[str, Any]) -> Any:
        """The budget ``params`` (the recipe's) set, or ``None`` (no budget, or not set)."""
        value: Any = params
        for part in cls.budget.split(".") if cls.budget else []:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value if cls.budget else None

    @classmethod
    def with_budget(cls, params: Mapping[str, Any], eps: float) -> dict[str, Any]:
        """``params`` (the recipe's) with the budget set to ``eps``."""
        if cls.budget is None:
            raise TypeError(f"{cls.__name__} declares no budget")
        out = dict(params)
        *parents, leaf = cls.budget.split(".")
        node = out
        for part in parents:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[leaf] = eps
        return out

    @abstractmethod
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial examples for the batch ``x`` with labels ``y``."""


class PoisoningAttack(ABC):
    """A poisoning attack: rewrites the training data before training, triggers test inputs.

    ``poison(bundle, rng)`` returns a new bundle (never changes the one it is given) whose
    training split carries the poison; it is applied in the ``poison`` stage, before
    training, and is part of the ``train`` fingerprint. It should record the indices of the
    training samples it changed as ``extras["poisoned"]`` (an int64 tensor). ``trigger(x)``
    returns test inputs (as stored: ``uint8`` images, features or a mapping) with the
    trigger applied, for measuring the attack's success.
    """

    family: ClassVar[str] = "poisoning"
    modalities: ClassVar[tuple[str, ...]] = ("image", "tabular", "text")

    def bind(self, info: DataInfo) -> PoisoningAttack:
        """Called with the clean data's description before :meth:`poison`."""
        return self

    @abstractmethod
    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        """The bundle with poisoned training data."""

    @abstractmethod
    def trigger(self, x: Inputs) -> Inputs:
        """Test inputs with the trigger applied."""

    def objective(self, bundle: DataBundle) -> Any:
        """A term the attacker adds to the training loss, or ``None`` (the default: the attack
        only rewrites data). Called with the poisoned bundle; the result is called on every
        training batch as ``term(features, index) -> scalar`` (penultimate features, and the
        samples' indices in the training split). An adaptive attack (adversarial embedding)
        uses it; it is part of the ``train`` fingerprint like the rest of the attack."""
        return None


# --------------------------------------------------------------------------- defenses


class DataDefense(ABC):
    """A defense that rewrites the (possibly poisoned) data before training."""

    family: ClassVar[str] = "data"

    def bind(self, info: DataInfo) -> DataDefense:
        return self

    @abstractmethod
    def transform(self, bundle: DataBundle) -> DataBundle:
        """The bundle the model is trained on."""


class BatchDefense(ABC):
    """A defense that rewrites each training batch (model inputs) inside the training loop."""

    family: ClassVar[str] = "batch"

    def bind(self, info: DataInfo) -> BatchDefense:
        return self

    @abstractmethod
    def transform(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch to train on."""


class TrainingDefense(ABC):
    """A defense with a training loop of its own, run on the trained model (``defend`` stage)."""

    family: ClassVar[str] = "train"

    def bind(self, info: DataInfo) -> TrainingDefense:
        return self

    @abstractmethod
    def train(
        self, model: nn.Module, data: DataBundle, *, seed: int, device: Any = "cpu", progress: Any = None
    ) -> list[dict[str, float]]:
        """Change ``model`` in place; returns a history (one record per step or epoch)."""


class PoisonFilter(ABC):
    """A defense that finds poisoned training samples with the model trained on them.

    ``flag(model, train)`` gets the (possibly poisoned) training split with that model's
    logits and features (:class:`toolkit.outputs.Outputs`, labels as trained on) and returns
    a boolean tensor ``(N,)``: true for a sample it suspects. The run then trains a fresh
    model on the samples no filter flagged (stage ``defend``); the ``backdoor`` task reports
    each filter's precision and recall against the samples the attack poisoned.
    """

    family: ClassVar[str] = "filter"

    def bind(self, info: DataInfo) -> PoisonFilter:
        return self

    @abstractmethod
    def flag(self, model: nn.Module, train: Outputs) -> torch.Tensor:
        """A boolean mask of the suspected training samples."""


# --------------------------------------------------------------------------- structural


@runtime_checkable
class Detector(Protocol):
    """A detector: ``fit(model, train)`` then ``score(model, outputs)``.

    Both take :class:`toolkit.outputs.Outputs` (a split's inputs with the model's logits
    and features computed once). ``fit`` returns the detector; ``score`` a float tensor
    ``(N,)``, higher = more in-distribution (or more clean). Scoring before fitting raises
    :class:`toolkit.errors.NotFittedError`.
    """

    def fit(self, model: nn.Module, train: Outputs) -> Detector: ...

    def score(self, model: nn.Module, x: Outputs) -> torch.Tensor: ...


@runtime_checkable
class ModelScanner(Protocol):
    """A model scanner (the ``scanner`` family of detectors): ``scan(model, x) -> ModelScan``.

    It reads the model and clean inputs ``x`` (floats in the model's input range; the
    ``backdoor`` task gives its clean test images) and returns a
    :class:`toolkit.detectors.scan.ModelScan`: a statistic per class, each class's anomaly
    index and the classes it flags as backdoor targets. It needs no training data, must not
    change the model, and must give the same result for the same seed.
    """

    def scan(self, model: nn.Module, x: torch.Tensor) -> ModelScan: ...


@runtime_checkable
class Explainer(Protocol):
    """An explainer: ``explain(model, inputs, targets) -> attributions`` with the input's
    shape (or one channel for images). It may declare ``modalities`` (default: any); a
    recipe that pairs it with data of another modality is refused by ``toolkit validate``."""

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Task(Protocol):
    """A task: ``Task(**evaluate).run(ctx) -> TaskResult``.

    Class attributes: ``uses`` (the recipe sections it reads; others are refused),
    ``requires`` (sections that need at least one entry), ``baselines`` (library -> the
    reference runs it offers). An optional ``check(recipe) -> list[Problem]`` classmethod
    checks the recipe against what its components declare, at validate time.
    """

    def run(self, ctx: Any) -> TaskResult: ...


# --------------------------------------------------------------------------- checking


def _target(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _methods(proto: type) -> list[str]:
    return [
        name
        for name, value in vars(proto).items()
        if callable(value) and (not name.startswith("_") or name == "__call__")
    ]


def missing(obj: Any, proto: type) -> list[str]:
    """What ``obj`` lacks to satisfy ``proto`` (empty when it satisfies it)."""
    if issubclass(proto, ABC):
        if not (inspect.isclass(obj) and issubclass(obj, proto)):
            return [f"subclass of toolkit.protocols.{proto.__name__}"]
        return sorted(getattr(obj, "__abstractmethods__", ()))
    if proto in (Dataset, Model):
        return [] if callable(obj) else ["a function"]
    if not inspect.isclass(obj):
        return ["a class"]
    return [m for m in _methods(proto) if not callable(getattr(obj, m, None))]


def family_of(kind: Kind, obj: Any) -> str:
    """The family of ``obj`` among ``kind``'s; raises :class:`ProtocolMismatch` if none fits."""
    lacks: dict[str, list[str]] = {}
    for family, target in kind.families.items():
        gap = missing(obj, _target(target))
        if not gap:
            return family
        lacks[family] = gap
    raise ProtocolMismatch(lacks)


class ProtocolMismatch(Exception):
    """A component that satisfies no family of its kind; ``lacks`` says what each misses."""

    def __init__(self, lacks: dict[str, list[str]]) -> None:
        self.lacks = lacks
        parts = [f"{family} needs {', '.join(gap)}" for family, gap in lacks.items()]
        super().__init__("; ".join(parts))


def bind(component: Any, info: DataInfo) -> Any:
    """Call the component's optional ``bind(info)``; returns the component."""
    hook: Callable[[DataInfo], Any] | None = getattr(component, "bind", None)
    if hook is not None:
        hook(info)
    return component
