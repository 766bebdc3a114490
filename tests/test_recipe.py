"""Recipes: validation with key paths and suggestions, --set overrides, fingerprints."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from toolkit.errors import RecipeError, UsageError
from toolkit.recipe import apply_overrides, load_recipe, parse_recipe, parse_value

BASE = {
    "task": "ood",
    "name": "t",
    "seed": 0,
    "dataset": {"name": "synthetic", "holdout": ["c3"]},
    "model": {"name": "mlp"},
    "train": {"epochs": 2, "lr": 0.1},
    "detectors": [{"name": "msp"}, {"name": "energy", "temperature": 2.0}],
}


def recipe(**changes: object) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def problems(data: dict, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(RecipeError) as err:
        parse_recipe(data, overrides or [])
    return [str(p) for p in err.value.problems]


def test_valid_recipe_fills_every_default() -> None:
    r = parse_recipe(BASE)
    assert r.dataset.params["n_classes"] == 4
    assert r.model is not None and r.model.params == {
        "hidden": [128],
        "dropout": 0.0,
        "activation": "relu",
        "weights": None,
        "mean": None,
        "std": None,
        "class_names": None,
    }
    assert [d.name for d in r.detectors] == ["msp", "energy"]
    assert r.detectors[1].params == {"temperature": 2.0}
    assert r.task.params == {"tpr": 0.95, "near": [], "far": [], "ood_split": "test", "ood_samples": None}
    assert r.recipe.train.optimizer == "sgd" and r.recipe.runtime.device == "auto"


def test_unknown_keys_get_path_and_suggestion() -> None:
    found = problems(recipe(train={"epochs": 1, "lr_rate": 0.1}, detector=[]))
    assert "train.lr_rate: unknown key, did you mean train.lr?" in found
    assert any(p.startswith("detector: unknown key, did you mean detectors?") for p in found)


def test_all_problems_are_reported_at_once() -> None:
    data = recipe(
        seed="zero",
        dataset={"name": "synthetic", "holdout": ["c3"], "n_clases": 3},
        model={"name": "mpl"},
        detectors=[{"name": "msp", "temperature": -1}],
        evaluate={"tpr": 2},
    )
    found = problems(data)
    paths = [p.split(":")[0] for p in found]
    assert paths == sorted(paths, key=paths.index)  # stable order
    assert {"seed", "dataset.n_clases", "model.name", "detectors.0.temperature", "evaluate.tpr"} <= set(paths)
    assert any("did you mean dataset.n_classes" in p for p in found)
    assert any("did you mean 'mlp'" in p.lower() for p in found)


def test_wrong_type_names_what_it_got() -> None:
    (found,) = problems(recipe(train={"epochs": "many"}))
    assert found.startswith("train.epochs:") and '"many"' in found


def test_missing_required_key() -> None:
    data = recipe()
    del data["dataset"]
    assert "dataset: missing required key" in problems(data)


def test_numeric_strings_are_accepted_where_floats_are_expected() -> None:
    r = parse_recipe(recipe(train={"lr": "1/10"}, detectors=[{"name": "msp", "temperature": "3/2"}]))
    assert r.recipe.train.lr == pytest.approx(0.1)
    assert r.detectors[0].params["temperature"] == 1.5


def test_task_rejects_sections_it_does_not_use() -> None:
    found = problems(recipe(attacks=[{"name": "msp"}]))
    assert any(p.startswith("attacks: the 'ood' task does not use attacks") for p in found)
    data = recipe()
    del data["detectors"]
    assert any(p.startswith("detectors: the 'ood' task needs at least one") for p in problems(data))


def test_unknown_task() -> None:
    found = problems(recipe(task="odd"))
    assert any(p.startswith("task: unknown task 'odd'") and "'ood'" in p for p in found)


def test_set_overrides_parse_toml_values_and_index_lists() -> None:
    r = parse_recipe(
        BASE,
        [
            "train.epochs=1",
            "detectors.0.name=energy",
            "dataset.holdout=['c1']",
            "seed=3",
            "name=other",
            "train.augment=[]",
        ],
    )
    assert r.recipe.train.epochs == 1 and r.seed == 3 and r.name == "other"
    assert r.detectors[0].name == "energy" and r.dataset.params["holdout"] == ["c1"]


def test_set_may_add_a_key_the_schema_knows() -> None:
    r = parse_recipe(BASE, ["train.momentum=0.5", "model.dropout=0.1", "evaluate.tpr=0.9"])
    assert r.recipe.train.momentum == 0.5 and r.model is not None and r.model.params["dropout"] == 0.1
    assert r.task.params["tpr"] == 0.9


def test_set_rejects_unknown_keys_and_bad_indices() -> None:
    found = problems(BASE, ["train.lr_rate=0.1", "detectors.5.name=msp", "justtext"])
    assert "train.lr_rate: unknown key, did you mean train.lr? (set with --set)" in found
    assert any(p.startswith("detectors.5: no such entry: the list has 2 entries") for p in found)
    assert any(p.startswith("--set: 'justtext' is not key=value") for p in found)


def test_set_cannot_descend_into_a_scalar() -> None:
    assert any("seed: is not a table" in p for p in problems(BASE, ["seed.x=1"]))


def test_parse_value() -> None:
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value('["frog"]') == ["frog"] and parse_value("frog") == "frog"
    assert parse_value("8/255") == "8/255"


def test_apply_overrides_does_not_add_list_sections() -> None:
    data: dict = {"task": "ood"}
    assert apply_overrides(data, ["attacks.0.name=x"])


def test_fingerprints_depend_on_the_right_stages() -> None:
    base = parse_recipe(BASE).fingerprints()
    assert set(base) == {"data", "poison", "train", "defend", "run"}
    explicit = parse_recipe(BASE, ["detectors.0.temperature=1.0", "model.dropout=0.0"]).fingerprints()
    assert explicit == base  # defaults written out change nothing
    detector = parse_recipe(BASE, ["detectors.1.temperature=3.0"]).fingerprints()
    assert detector["train"] == base["train"] and detector["run"] != base["run"]
    training = parse_recipe(BASE, ["train.epochs=5"]).fingerprints()
    assert training["data"] == base["data"] and training["train"] != base["train"]
    seed = parse_recipe(BASE, ["seed=1"]).fingerprints()
    assert seed["data"] != base["data"]
    machine = parse_recipe(BASE, ["runtime.threads=2", "runtime.device='cpu'", "name=renamed"]).fingerprints()
    assert machine == base


def test_equal_values_written_differently_share_fingerprints() -> None:
    digits = {"task": "ood", "name": "d", "dataset": {"name": "digits"}, "model": {"name": "mlp"},
              "detectors": [{"name": "msp"}]}  # fmt: skip
    by_index = parse_recipe(digits, ["dataset.holdout=[9, 8]", "train.lr=0.001"])
    by_name = parse_recipe(digits, ['dataset.holdout=["8", "9"]', 'train.lr="1/1000"'])
    assert by_index.fingerprints() == by_name.fingerprints()
    assert by_index.dataset.params["holdout"] == ["8", "9"]
    assert (
        parse_recipe(digits, ['dataset.holdout=["7"]']).fingerprints()["data"]
        != by_name.fingerprints()["data"]
    )
    found = problems(digits, ['dataset.holdout=["nine"]'])
    assert any(p.startswith("dataset.holdout.0: unknown class 'nine'") for p in found), found


def test_editing_a_component_changes_its_stage_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.registry import Entry

    base = parse_recipe(BASE).fingerprints()
    real = Entry.code_id

    def edited(self: Entry) -> str:
        return "edited" if self.name == "msp" else real(self)

    monkeypatch.setattr(Entry, "code_id", edited)
    after = parse_recipe(BASE).fingerprints()
    assert after["train"] == base["train"] and after["run"] != base["run"]


def test_resolved_recipe_round_trips(tmp_path: Path) -> None:
    r = parse_recipe(BASE)
    path = tmp_path / "resolved.toml"
    path.write_text(r.to_toml())
    again = load_recipe(path)
    assert again.fingerprints() == r.fingerprints()
    assert again.to_dict() == r.to_dict()


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "ood"\nname = \n')
    with pytest.raises(UsageError, match="line 2"):
        load_recipe(bad)


def test_shipped_recipes_validate() -> None:
    root = Path(__file__).resolve().parents[1] / "recipes"
    shipped = sorted(root.glob("*.toml"))
    assert shipped
    for path in shipped:
        load_recipe(path)


def test_evaluate_cannot_rename_the_task() -> None:
    assert any(p.startswith("evaluate.name: unknown key") for p in problems(recipe(evaluate={"name": "x"})))


def test_indexing_an_empty_list() -> None:
    found = problems(recipe(detectors=[]), ["detectors.0.name=msp"])
    assert any(
        p.startswith("detectors.0: no such entry: the list has 0 entries") and "-1" not in p for p in found
    )


def test_nested_components_are_validated_normalized_and_fingerprinted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toolkit.registry import Entry

    base = {"task": "evasion", "name": "e", "dataset": {"name": "digits"}, "model": {"name": "small_cnn"},
            "attacks": [{"name": "fgsm"}]}  # fmt: skip
    found = problems({**base, "defenses": [{"name": "adversarial_training", "attack": "pgdd"}]})
    assert any(
        p.startswith("defenses.0.attack: unknown attack 'pgdd'. Did you mean 'pgd'?") for p in found
    ), found
    found = problems({**base, "defenses": [{"name": "adversarial_training", "params": {"epsz": 1}}]})
    assert any(p.startswith("defenses.0.params.epsz: unknown key for attack 'pgd'") for p in found), found
    written = parse_recipe(
        {**base, "defenses": [{"name": "adversarial_training", "params": {"eps": "32/255"}}]}
    )
    as_float = parse_recipe(
        {**base, "defenses": [{"name": "adversarial_training", "params": {"eps": 32 / 255}}]}
    )
    assert written.defenses[0].params["params"]["eps"] == 32 / 255
    assert written.fingerprints() == as_float.fingerprints()
    before = as_float.fingerprints()["train"]
    real = Entry.code_id

    def edited(self: Entry) -> str:  # the attack adversarial training builds is edited
        return "edited" if self.name == "pgd" else real(self)

    monkeypatch.setattr(Entry, "code_id", edited)
    assert as_float.fingerprints()["train"] != before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=-5", "seed: Input should be greater than or equal to 0"),
        ("seed=4294967296", "seed: Input should be less than 4294967296"),
        ("train.lr=inf", "train.lr: Input should be a finite number"),
        (  # pydantic 2.5 reports NaN as not finite, later versions by the bound it misses
            "train.momentum=nan",
            (
                "train.momentum: Input should be greater than or equal to 0 (got NaN)",
                "train.momentum: Input should be a finite number (got NaN)",
            ),
        ),
        ("detectors.0.temperature=inf", "detectors.0.temperature: Input should be a finite number"),
        ("train.epochs=true", "train.epochs: Input should be a valid integer"),
    ],
)
def test_validate_refuses_what_run_would_reject(override: str, message: str | tuple[str, ...]) -> None:
    found = problems(BASE, [override])
    assert any(p.startswith(message) for p in found), found
