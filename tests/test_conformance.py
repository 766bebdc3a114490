"""Every registered component of every kind passes its kind's conformance checks, plugins
included; and the checks catch components that break their contract."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import needs_check_data
from torch import nn

from toolkit.data.base import DataBundle, Split
from toolkit.errors import DataError, UsageError
from toolkit.kinds import KINDS
from toolkit.protocols import BatchDefense, EvasionAttack, PoisoningAttack
from toolkit.registry import registry
from toolkit.testing import (
    CHECKS,
    check_attack,
    check_component,
    check_defense,
    check_detector,
    check_explainer,
    check_task,
)


def registered() -> list[tuple[str, str]]:
    return [(kind, entry.name) for kind in KINDS for entry in registry(kind).entries()]


def test_every_kind_has_its_check() -> None:
    assert set(CHECKS) == set(KINDS)
    for name, kind in KINDS.items():
        assert CHECKS[name].__name__ == kind.check


@pytest.mark.parametrize(("kind", "name"), registered())
def test_component_conforms(kind: str, name: str) -> None:
    needs_check_data(kind, name)
    entry = registry(kind).get(name)
    required = [p.name for p in entry.signature().params if p.required]
    if required and getattr(entry.load(), "example_params", None) is None:
        pytest.skip(f"{kind} {name} needs {required}; its own tests run the checks with them")
    try:
        check_component(kind, name)
    except DataError as exc:  # a data set whose files are not on this machine
        pytest.skip(f"{kind} {name}: {exc}")
    except UsageError as exc:  # an adapter whose optional library is not installed
        if "pip install" not in str(exc):
            raise
        pytest.skip(f"{kind} {name}: {exc}")


def test_example_plugin_conforms(plugin_paths: object) -> None:
    check_component("detectors", "entropy")


# --------------------------------------------------------------------------- detectors


def test_checks_catch_a_bad_detector() -> None:
    class WrongShape:
        def fit(self, model: object, train: object) -> WrongShape:
            return self

        def score(self, model: object, x: object) -> torch.Tensor:
            return torch.zeros(3)

    class LeavesTrainMode(WrongShape):
        def score(self, model: torch.nn.Module, x: object) -> torch.Tensor:  # type: ignore[override]
            model.train()
            return x.logits.max(1).values  # type: ignore[attr-defined]

    with pytest.raises(AssertionError, match="shape"):
        check_detector(WrongShape)
    with pytest.raises(AssertionError, match="mode"):
        check_detector(LeavesTrainMode)


# --------------------------------------------------------------------------- attacks


class Unclamped(EvasionAttack):
    """Moves every input by ``eps`` and forgets the input domain."""

    budget = "eps"

    def __init__(self, *, eps: float = 0.1) -> None:
        self.eps = eps

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.eps


class UnitClamped(Unclamped):
    """Clamps to [0, 1] whatever the data's domain: right for images, wrong for bounded features."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + self.eps).clamp(0, 1)


class Clamped(Unclamped):
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.domain.clamp(x + self.eps)


class InPlace(Clamped):
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x.copy_(self.domain.clamp(x + self.eps))
        return x


class LeavesEvalMode(Clamped):
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model.eval()
        return super().__call__(model, x, y)


class Unseeded(Clamped):
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.domain.clamp(x + self.eps * torch.randn(x.shape).sign())


class IgnoresBudget(Clamped):
    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.domain.clamp(x + 0.1)


def test_checks_pass_a_good_evasion_attack() -> None:
    check_attack(Clamped)


@pytest.mark.parametrize(
    ("attack", "match"),
    [
        (Unclamped, "leave the input domain"),
        (UnitClamped, r"tabular.*leave the input domain"),
        (InPlace, "changed its input x in place"),
        (LeavesEvalMode, "left a model that was in train mode in eval mode"),
        (Unseeded, "same parameters gave different adversarial examples"),
        (IgnoresBudget, "budget"),
    ],
)
def test_checks_catch_a_bad_evasion_attack(attack: type, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check_attack(attack)


def _poisoned(bundle: DataBundle, x: torch.Tensor, y: torch.Tensor) -> DataBundle:
    return DataBundle(Split(x, y), bundle.test, bundle.info, bundle.ood, list(bundle.ood_class_names))


class FlipLabels(PoisoningAttack):
    """Relabels the first ``count`` training samples as class 0, on copies."""

    def __init__(self, *, count: int = 10) -> None:
        self.count = count

    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        y = bundle.train.y.clone()
        y[: self.count] = 0
        return _poisoned(bundle, bundle.train.x, y)

    def trigger(self, x: Any) -> Any:
        return x.clone()


class MutatesInput(FlipLabels):
    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        bundle.train.y[: self.count] = 0
        return bundle


class IgnoresRng(FlipLabels):
    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        y = bundle.train.y.clone()
        y[torch.randperm(len(y))[: self.count]] = 0
        return _poisoned(bundle, bundle.train.x, y)


class TouchesTest(FlipLabels):
    def poison(self, bundle: DataBundle, rng: torch.Generator) -> DataBundle:
        out = super().poison(bundle, rng)
        out.test = Split(bundle.test.x, torch.zeros_like(bundle.test.y))
        return out


class FloatTrigger(FlipLabels):
    def trigger(self, x: Any) -> Any:
        return x.float()


def test_checks_pass_a_good_poisoning_attack() -> None:
    check_attack(FlipLabels)


@pytest.mark.parametrize(
    ("attack", "match"),
    [
        (MutatesInput, r"changed the bundle it was given \(train.y\)"),
        (IgnoresRng, "same seed gave different poisoned data"),
        (TouchesTest, "changed the test split"),
        (FloatTrigger, "trigger.. changed the dtype"),
    ],
)
def test_checks_catch_a_bad_poisoning_attack(attack: type, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check_attack(attack)


def test_an_attack_of_no_family_is_named() -> None:
    class JustAFunction:
        def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(AssertionError, match=r"JustAFunction.*no attack of a known family.*EvasionAttack"):
        check_attack(JustAFunction)


# --------------------------------------------------------------------------- defenses


class Identity(BatchDefense):
    def transform(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x, y


class LeavesModelInEval(Identity):
    def transform(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        model.eval()
        return x, y


class DropsSamples(Identity):
    def transform(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x[1:], y[1:]


def test_checks_catch_a_bad_batch_defense() -> None:
    check_defense(Identity)
    with pytest.raises(AssertionError, match="left a model that was in train mode in eval mode"):
        check_defense(LeavesModelInEval)
    with pytest.raises(AssertionError, match="shape"):
        check_defense(DropsSamples)


# --------------------------------------------------------------------------- explainers


class Flat:
    """Attributions flattened to (N, D): the wrong shape for images."""

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return inputs.flatten(1).abs()


class GradsLeft:
    """Uses backward(): leaves gradients on the weights."""

    def explain(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = inputs.detach().clone().requires_grad_(True)
        model(x).gather(1, targets.view(-1, 1)).sum().backward()
        return x.grad.abs()  # type: ignore[union-attr]


def test_checks_catch_a_bad_explainer() -> None:
    with pytest.raises(AssertionError, match=r"attributions of shape \(8, 64\), expected \(8, 1, 8, 8\)"):
        check_explainer(Flat)
    with pytest.raises(AssertionError, match="left gradients on the model's weights"):
        check_explainer(GradsLeft)


# --------------------------------------------------------------------------- tasks


class GoodTask:
    uses = ("model", "train", "detectors")
    requires = ("detectors",)

    def run(self, ctx: Any) -> Any:
        return None


class UnknownSection(GoodTask):
    uses = ("model", "detector")


class RequiresUnused(GoodTask):
    requires = ("attacks",)


class InstanceCheck(GoodTask):
    def check(self, recipe: Any) -> list[Any]:
        return []


class CheckReturnsText(GoodTask):
    @classmethod
    def check(cls, recipe: Any) -> Any:
        return "fine"


def test_checks_catch_a_bad_task() -> None:
    check_task(GoodTask)
    with pytest.raises(AssertionError, match="unknown sections"):
        check_task(UnknownSection)
    with pytest.raises(AssertionError, match="not in uses"):
        check_task(RequiresUnused)
    with pytest.raises(AssertionError, match="classmethod"):
        check_task(InstanceCheck)
    with pytest.raises(AssertionError, match="not a list"):
        check_task(CheckReturnsText)
