"""Every registered component passes its kind's conformance checks, plugins included."""

from __future__ import annotations

import pytest

from toolkit.errors import DataError, UsageError
from toolkit.registry import registry
from toolkit.testing import CHECKS, check_component


def registered() -> list[tuple[str, str]]:
    return [(kind, entry.name) for kind in CHECKS for entry in registry(kind).entries()]


@pytest.mark.parametrize(("kind", "name"), registered())
def test_component_conforms(kind: str, name: str) -> None:
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


def test_checks_catch_a_bad_detector() -> None:
    import torch

    from toolkit.testing import check_detector

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
