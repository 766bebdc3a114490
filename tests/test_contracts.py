"""Contracts a plugin meets: capabilities named by what they lack, the conformance checks'
AssertionError naming the component, and completeness reported through a method (the old
attributes still work, with a deprecation warning that says what to write instead)."""

from __future__ import annotations

import pytest
import torch

from toolkit.capabilities import TRIGGER_POISONING
from toolkit.errors import ToolkitDeprecationWarning
from toolkit.tasks.explain import completeness
from toolkit.testing import check_detector


def test_a_capability_names_the_members_a_component_lacks() -> None:
    from toolkit.attacks.patch_trigger import PatchTrigger

    class OnlyTrigger:
        def trigger(self, x: torch.Tensor) -> torch.Tensor:
            return x

    assert TRIGGER_POISONING.missing(PatchTrigger) == []
    assert TRIGGER_POISONING.missing(OnlyTrigger) == ["eligible(y)", "relabel(y)"]


def test_check_detector_fails_with_an_assertion_naming_the_component() -> None:
    class NoScore:
        def fit(self, model: object, train: object) -> NoScore:
            return self

    class Raises:
        def fit(self, model: object, train: object) -> Raises:
            return self

        def score(self, model: object, outputs: object) -> torch.Tensor:
            raise KeyError("features")

    with pytest.raises(AssertionError, match=r"detector .*NoScore.*: a detector needs .* it lacks score"):
        check_detector(NoScore)
    with pytest.raises(AssertionError, match=r"detector .*Raises.*: raised KeyError: 'features'"):
        check_detector(Raises)


def test_completeness_is_a_method_and_the_old_attributes_still_work_with_a_warning() -> None:
    gap, base = torch.tensor([0.1, 0.2]), torch.tensor([0.5, 0.4])

    class Method:
        def completeness(self) -> dict[str, torch.Tensor]:
            return {"gap": gap, "baseline": base}

    class Attributes:
        completeness_, base_ = gap, base

    assert completeness(Method()) == {"gap": gap, "baseline": base}
    with pytest.warns(ToolkitDeprecationWarning, match=r"define a method completeness\(\)"):
        assert completeness(Attributes()) == {"gap": gap, "baseline": base}
    assert completeness(object()) == {}
