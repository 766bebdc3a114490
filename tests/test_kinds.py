"""Adding a kind of component is one entry in the table of kinds (toolkit/kinds.py) plus the
package with its components: the registry, the recipe schema, fingerprints, conformance
checks and runs all follow the table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from toolkit.errors import RecipeError
from toolkit.execution.runner import run
from toolkit.kinds import KINDS, Kind, list_sections
from toolkit.recipe import parse_recipe
from toolkit.registry import registry
from toolkit.testing import check_component

PROBE = """
import torch


class Margin:
    \"\"\"Gap between the two largest logits, times ``scale``.\"\"\"

    def __init__(self, *, scale: float = 1.0) -> None:
        self.scale = scale

    def fit(self, model, train):
        return self

    def score(self, model, x):
        top = x.logits.topk(2, dim=1).values
        return self.scale * (top[:, 0] - top[:, 1])
"""

TASK = """
from toolkit.results import TaskResult


class ProbeTask:
    \"\"\"Mean probe score on the test split.\"\"\"

    uses = ("model", "train", "probes")
    requires = ("probes",)

    def run(self, ctx):
        model, test = ctx.model(), ctx.outputs("test")
        scores = {}
        for i, spec in enumerate(ctx.recipe.section("probes")):
            probe = ctx.build(spec).fit(model, ctx.outputs("train"))
            scores[ctx.recipe.label("probes", i)] = float(probe.score(model, test).mean())
        return TaskResult(metrics={"probes": scores})
"""


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch, install_plugin: Callable[..., Path]) -> None:
    kind = Kind(
        "probes",
        "probe",
        "probes",
        True,
        "run",
        {"probe": "toolkit.protocols:Detector"},
        check="check_detector",
    )
    monkeypatch.setitem(KINDS, "probes", kind)
    install_plugin(
        "toolkit-plugin-probes",
        "0.1.0",
        {
            "toolkit.probes": {"margin": "tp_probes.probe:Margin"},
            "toolkit.tasks": {"probe_task": "tp_probes.task:ProbeTask"},
        },
        {"tp_probes/__init__.py": "", "tp_probes/probe.py": PROBE, "tp_probes/task.py": TASK},
    )


def recipe(**probe: object) -> dict[str, object]:
    return {
        "task": "probe_task",
        "name": "probing",
        "dataset": {"name": "synthetic", "n_per_class": 30},
        "model": {"name": "mlp", "hidden": [8]},
        "train": {"epochs": 1},
        "probes": [{"name": "margin", **probe}],
    }


def test_one_entry_in_the_table_adds_a_kind(probes: None, tmp_path: Path) -> None:
    assert "probes" in list_sections()
    assert registry("probes").names() == ["margin"] and registry("probe").kind == "probes"
    resolved = parse_recipe(recipe(scale=2.0))
    spec = resolved.section("probes")[0]
    assert spec.family == "probe" and spec.stage == "run" and spec.params == {"scale": 2.0}
    other = parse_recipe(recipe(scale=3.0)).fingerprints()
    assert (
        other["train"] == resolved.fingerprints()["train"] and other["run"] != resolved.fingerprints()["run"]
    )
    with pytest.raises(RecipeError, match=r"probes\.0\.scael: unknown key for probe 'margin', did you mean"):
        parse_recipe(recipe(scael=2.0))
    check_component("probes", "margin")
    result = run(resolved, out_dir=tmp_path, console=None)
    assert result.metrics["probes"]["margin"] > 0
    import tomllib

    written = tomllib.loads((result.path / "recipe.toml").read_text())
    assert written["probes"] == [{"name": "margin", "scale": 2.0}]


def test_without_the_entry_the_section_is_unknown() -> None:
    with pytest.raises(RecipeError, match="probes: unknown key"):
        parse_recipe(recipe())
