"""A plugin with a component of every kind (tests/plugin_kinds/), installed as a distribution:
it passes the conformance checks, and recipes run it end to end (multi-tensor inputs
included); a component of no family is refused, and a failing one is blamed by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
import torch
from conftest import ROOT, needs_check_data, write_dist

from toolkit.errors import RecipeError, RunError
from toolkit.execution.runner import run
from toolkit.kinds import KINDS
from toolkit.recipe import load_recipe, parse_recipe
from toolkit.registry import refresh, registry
from toolkit.testing import check_component

PLUGIN = ROOT / "tests" / "plugin_kinds"
PROJECT = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
DIST = f"{PROJECT['name']} {PROJECT['version']}"
BAD_DIST = "toolkit-plugin-kinds-bad 0.1.0"

#: (kind, name) of every component the plugin declares.
COMPONENTS = [
    (group.removeprefix("toolkit."), name)
    for group, entries in PROJECT["entry-points"].items()
    for name in entries
]

BAD_MODULE = """\
import torch


class NotADefense:
    '''Has a defense's method but subclasses no toolkit.protocols base class.'''

    def transform(self, bundle):
        return bundle


class Faulty:
    '''A detector that fails while scoring.'''

    def fit(self, model, train):
        return self

    def score(self, model, x):
        raise RuntimeError("kaboom: the faulty detector failed on purpose")
"""


@pytest.fixture
def kinds_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The plugin importable and registered as an installed distribution in this process."""
    site = write_dist(tmp_path / "kinds-site", PROJECT["name"], PROJECT["version"], PROJECT["entry-points"])
    for p in (site, PLUGIN):
        monkeypatch.syspath_prepend(str(p))
    refresh()
    return [site, PLUGIN]


@pytest.fixture
def bad_plugin(kinds_plugin: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second distribution with a defense of no family and a detector that raises."""
    site = write_dist(
        tmp_path / "bad-site",
        "toolkit-plugin-kinds-bad",
        "0.1.0",
        {
            "toolkit.defenses": {"kinds_not_a_defense": "toolkit_plugin_kinds_bad.components:NotADefense"},
            "toolkit.detectors": {"kinds_faulty": "toolkit_plugin_kinds_bad.components:Faulty"},
        },
        {"toolkit_plugin_kinds_bad/__init__.py": "", "toolkit_plugin_kinds_bad/components.py": BAD_MODULE},
    )
    monkeypatch.syspath_prepend(str(site))
    refresh()
    return site


OOD_RECIPE = """\
task = "ood"
name = "kinds-ood"
seed = 0

[dataset]
name = "kinds_tokens"
holdout = ["d"]

[model]
name = "kinds_bag"

[train]
epochs = 3
optimizer = "adam"
lr = 0.05
batch_size = 32

[[detectors]]
name = "msp"

[[detectors]]
name = "energy"

[[detectors]]
name = "knn"
k = 5

[[detectors]]
name = "kinds_margin"
"""

POISON_RECIPE = {
    "task": "kinds_poison_success",
    "name": "kinds-poison",
    "seed": 0,
    "dataset": {"name": "kinds_tokens"},
    "model": {"name": "kinds_bag"},
    "train": {"epochs": 3, "optimizer": "adam", "lr": 0.05, "batch_size": 32},
    "attacks": [{"name": "kinds_first_token", "fraction": 0.2, "target": 0}],
    "defenses": [{"name": "kinds_input_noise"}, {"name": "kinds_finetune"}],
}


def test_the_plugin_covers_every_kind(kinds_plugin: list[Path]) -> None:
    assert {kind for kind, _ in COMPONENTS} == set(KINDS)
    for kind, name in COMPONENTS:
        assert registry(kind).get(name).provider == DIST
    families = {
        (kind, registry(kind).get(name).load().family)
        for kind, name in COMPONENTS
        if kind in ("attacks", "defenses")
    }
    assert families == {
        ("attacks", "evasion"),
        ("attacks", "poisoning"),
        ("defenses", "data"),
        ("defenses", "batch"),
        ("defenses", "train"),
    }


@pytest.mark.parametrize(("kind", "name"), COMPONENTS)
def test_plugin_component_conforms(kinds_plugin: list[Path], kind: str, name: str) -> None:
    needs_check_data(kind, name)
    check_component(kind, name)


def test_token_data_is_multi_tensor(kinds_plugin: list[Path]) -> None:
    bundle = registry("datasets").load("kinds_tokens")(0, holdout=["d"])
    assert bundle.info.modality == "text" and set(bundle.train.x) == {"tokens", "mask"}
    assert bundle.info.input_shape == {"tokens": (8,), "mask": (8,)}
    assert bundle.ood is not None and bundle.info.class_names == ["a", "b", "c"]
    tokens = bundle.train.x["tokens"]
    assert int(tokens.max()) < bundle.extras["vocab"] - 1  # the last id is free for a trigger


def test_checks_run_on_multi_tensor_data(kinds_plugin: list[Path]) -> None:
    from toolkit.testing import check_defense, check_detector, check_model

    bundle = registry("datasets").load("kinds_tokens")(0, n_per_class=20)
    build = registry("models").load("kinds_bag")
    check_model(build, data=bundle)
    check_detector(registry("detectors").load("knn"), params={"k": 5}, data=bundle, model=build)
    check_detector(registry("detectors").load("kinds_margin"), data=bundle, model=build)
    for name in ("kinds_subsample", "kinds_input_noise", "kinds_finetune"):
        check_defense(registry("defenses").load(name), data=bundle, model=build)


def test_poisoning_attack_by_hand(kinds_plugin: list[Path]) -> None:
    from toolkit.protocols import bind

    bundle = registry("datasets").load("kinds_tokens")(0)
    trigger = bundle.extras["vocab"] - 1
    attack = bind(registry("attacks").load("kinds_first_token")(fraction=0.25, target=1), bundle.info)
    out = attack.poison(bundle, torch.Generator().manual_seed(0))
    index = out.extras["poisoned"]
    assert len(index) == round(0.25 * len(bundle.train))
    assert bool((bundle.train.y[index] != 1).all())  # drawn among the other classes
    assert bool((out.train.y[index] == 1).all())
    assert bool((out.train.x["tokens"][index, 0] == trigger).all())
    others = torch.ones(len(bundle.train), dtype=torch.bool)
    others[index] = False
    assert torch.equal(out.train.x["tokens"][others], bundle.train.x["tokens"][others])
    assert torch.equal(out.train.x["tokens"][index, 1:], bundle.train.x["tokens"][index, 1:])
    assert not bool((bundle.train.x["tokens"] == trigger).any())  # the input bundle is untouched
    triggered = attack.trigger(bundle.test.x)
    assert bool((triggered["tokens"][:, 0] == trigger).all())
    assert torch.equal(triggered["tokens"][:, 1:], bundle.test.x["tokens"][:, 1:])


def test_ood_recipe_with_plugin_data_model_and_detector(kinds_plugin: list[Path], tmp_path: Path) -> None:
    path = tmp_path / "kinds-ood.toml"
    path.write_text(OOD_RECIPE)
    recipe = load_recipe(path)  # what `toolkit validate` does
    assert recipe.dataset.entry.provider == DIST and recipe.dataset.params["holdout"] == ["d"]
    result = run(recipe, out_dir=tmp_path / "runs", use_cache=False, console=None)
    metrics = result.metrics
    assert metrics["accuracy"] > 0.8
    assert metrics["n_out"] > 0 and metrics["holdout"] == ["d"]
    assert set(metrics["detectors"]) == {"msp", "energy", "knn", "kinds_margin"}
    for name, m in metrics["detectors"].items():
        assert 0.0 <= m["auroc"] <= 1.0, name
    meta = json.loads((result.path / "meta.json").read_text())
    assert meta["components"]["model"][0]["distribution"] == DIST
    assert meta["components"]["detectors"][3]["distribution"] == DIST


def test_poisoning_task_recipe_runs_end_to_end(kinds_plugin: list[Path], tmp_path: Path) -> None:
    recipe = parse_recipe(POISON_RECIPE)
    assert [c.family for c in recipe.defenses] == ["batch", "train"]
    assert recipe.task.entry.provider == DIST
    result = run(recipe, out_dir=tmp_path / "runs", use_cache=False, console=None)
    metrics = result.metrics
    assert metrics["poisoned"] == round(0.2 * metrics["train_samples"]) > 0
    assert metrics["changed_train_samples"] == metrics["poisoned"]  # the model saw poisoned data
    attack = metrics["attacks"]["kinds_first_token"]
    assert attack["target"] == 0 and attack["n"] > 0
    assert 0.0 <= attack["success_rate"] <= 1.0
    assert attack["success_rate"] > 0.5  # the backdoor is learned
    assert metrics["clean_accuracy"] > 0.6
    assert result.tables[0].rows[0][0] == "kinds_first_token"


def test_poisoning_task_refuses_evasion_attacks(kinds_plugin: list[Path]) -> None:
    recipe = {**POISON_RECIPE, "attacks": [{"name": "kinds_sign_step"}], "defenses": []}
    with pytest.raises(RecipeError) as info:
        parse_recipe(recipe)
    assert "attacks.0.name" in str(info.value) and "needs poisoning attacks" in str(info.value)


def test_component_of_no_family_is_refused(bad_plugin: Path) -> None:
    recipe = {**POISON_RECIPE, "defenses": [{"name": "kinds_not_a_defense"}]}
    with pytest.raises(RecipeError) as info:
        parse_recipe(recipe)
    message = str(info.value)
    for part in (
        "defenses.0.name",
        "defense 'kinds_not_a_defense'",
        BAD_DIST,
        "toolkit_plugin_kinds_bad.components:NotADefense",
        "subclass of toolkit.protocols.DataDefense",
        "subclass of toolkit.protocols.BatchDefense",
        "subclass of toolkit.protocols.TrainingDefense",
    ):
        assert part in message, (part, message)


def test_error_in_a_plugin_component_names_it(bad_plugin: Path, tmp_path: Path) -> None:
    data = tomllib.loads(OOD_RECIPE)
    data["detectors"] = [{"name": "msp"}, {"name": "kinds_faulty"}]
    recipe = parse_recipe(data)
    with pytest.raises(RunError) as info:
        run(recipe, out_dir=tmp_path / "runs", use_cache=False, console=None)
    message = str(info.value)
    assert "detector 'kinds_faulty'" in message and BAD_DIST in message, message
    assert "kaboom" in message
    assert isinstance(info.value.__cause__, RuntimeError)
    assert not any((tmp_path / "runs").rglob("metrics.json"))  # nothing half-written looks finished


def test_error_names_the_right_one_of_two_components_of_a_module(
    kinds_plugin: list[Path], tmp_path: Path
) -> None:
    # kinds_input_noise and kinds_finetune both live in toolkit_plugin_kinds.defenses
    defenses = [{"name": "kinds_input_noise"}, {"name": "kinds_finetune", "lr": -1.0}]
    recipe = parse_recipe({**POISON_RECIPE, "defenses": defenses})
    with pytest.raises(RunError) as info:
        run(recipe, out_dir=tmp_path / "runs", use_cache=False, console=None)
    assert "Invalid learning rate" in str(info.value)
    assert "defense 'kinds_finetune'" in str(info.value), str(info.value)
