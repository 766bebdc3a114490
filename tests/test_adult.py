"""The adult dataset: preprocessing, groups, keys and errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
from conftest import needs

from toolkit.data import adult
from toolkit.errors import DataError, RecipeError
from toolkit.recipe import parse_recipe

needs("pandas")


@pytest.fixture(scope="module")
def bundle() -> adult.DataBundle:  # type: ignore[name-defined]
    return adult.load(0)


def test_reference_protocol_sizes_and_groups(bundle: object) -> None:
    b = bundle
    assert len(b.train) + len(b.test) == 30940  # only White and Black rows
    assert len(b.test) == pytest.approx(0.3 * 30940, abs=1)
    assert b.info.sensitive == {"race": ("Black", "White"), "sex": ("Female", "Male")}
    assert b.info.class_names == ["<=50K", ">50K"]
    counts = b.extras["group_counts"]
    assert counts["race"]["Black"]["train"] + counts["race"]["Black"]["test"] == 3124
    for split in (b.train, b.test):
        assert set(split.groups) == {"race", "sex"}
        assert set(split.groups["race"].unique().tolist()) == {0, 1}


def test_no_sensitive_column_or_fnlwgt_among_inputs(bundle: object) -> None:
    names = bundle.info.feature_names
    assert not [n for n in names if n.startswith(("race", "sex", "fnlwgt", "income"))]
    # missing values ("?") are a category of their own: 8 named workclasses + "?" = 9 levels,
    # one-hot with the first level ("?", sorted first) dropped
    assert len([n for n in names if n.startswith("workclass_")]) == 8
    assert len(names) == bundle.train.x.shape[1]


def test_scaling_fitted_on_train_only(bundle: object) -> None:
    x_train, x_test = bundle.train.x, bundle.test.x
    assert torch.allclose(x_train.mean(0), torch.zeros(x_train.shape[1]), atol=1e-4)
    constant = x_train.std(0, unbiased=False) == 0
    assert torch.allclose(
        x_train.std(0, unbiased=False)[~constant], torch.ones(int((~constant).sum())), atol=1e-3
    )
    assert not torch.allclose(x_test.mean(0), torch.zeros(x_test.shape[1]), atol=1e-4)
    assert not torch.isnan(x_train).any() and not torch.isnan(x_test).any()
    mean = torch.tensor(bundle.extras["scaler"]["mean"])
    assert mean.shape == (x_train.shape[1],)


def test_stratified_on_the_label(bundle: object) -> None:
    rates = bundle.extras["positive_rate"]
    assert abs(rates["train"] - rates["test"]) < 0.001
    assert 0.2 < rates["train"] < 0.3


def test_race_binarization_and_privileged_group() -> None:
    allrows = adult.load(0, race="white_vs_nonwhite")
    assert len(allrows.train) + len(allrows.test) == 32561
    assert allrows.info.sensitive["race"] == ("Non-white", "White")
    flipped = adult.load(0, privileged={"race": "Black", "sex": "Female"})
    assert flipped.info.sensitive == {"race": ("White", "Black"), "sex": ("Male", "Female")}
    default = adult.load(0)
    assert torch.equal(flipped.test.groups["sex"], 1 - default.test.groups["sex"])
    only_sex = adult.load(0, sensitive=["sex"])
    assert "race_White" in only_sex.info.feature_names  # race is an ordinary input then
    assert len(only_sex.train) + len(only_sex.test) == 32561


def test_errors() -> None:
    with pytest.raises(DataError, match="there is no group 'Men'"):
        adult.load(0, privileged={"sex": "Men"})
    with pytest.raises(DataError, match="unknown attribute"):
        adult.load(0, privileged={"age": "old"})
    with pytest.raises(DataError, match="unknown column"):
        adult.load(0, drop=["salary"])
    with pytest.raises(DataError, match=r"no adult\.data"):
        adult.load(0, data_dir="/nonexistent")
    recipe = {"task": "fairness", "name": "x", "dataset": {"name": "adult", "sensitive": ["gender"]},
              "model": {"name": "mlp"}}  # fmt: skip
    with pytest.raises(RecipeError) as err:
        parse_recipe(recipe)
    assert any(p.path.startswith("dataset.sensitive.0") for p in err.value.problems)


ROWS = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K",
    "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 13, United-States, >50K",
    "38, ?, 215646, HS-grad, 9, Divorced, ?, Not-in-family, Black, Female, 0, 0, 40, ?, <=50K",
    "53, Private, 234721, 11th, 7, Married-civ-spouse, Handlers-cleaners, Husband, Black, Male, 0, 0, 40, United-States, >50K",
    "28, Private, 338409, Bachelors, 13, Married-civ-spouse, Prof-specialty, Wife, Black, Female, 0, 0, 40, Cuba, <=50K",
    "37, Private, 284582, Masters, 14, Married-civ-spouse, Exec-managerial, Wife, White, Female, 0, 0, 40, United-States, >50K",
    "49, Private, 160187, 9th, 5, Married-spouse-absent, Other-service, Not-in-family, Asian-Pac-Islander, Female, 0, 0, 16, Jamaica, <=50K",
    "52, Self-emp-not-inc, 209642, HS-grad, 9, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0, 45, United-States, >50K",
]  # fmt: skip


@pytest.mark.parametrize("compressed", [False, True])
def test_reads_files_in_the_uci_format(tmp_path: Path, compressed: bool) -> None:
    text = "\n".join(ROWS * 5) + "\n\n"
    if compressed:
        with gzip.open(tmp_path / "adult.data.gz", "wt") as fh:
            fh.write(text)
    else:
        (tmp_path / "adult.data").write_text(text)
    b = adult.load(0, data_dir=str(tmp_path), test_size=0.25)
    assert len(b.train) + len(b.test) == 35  # the Asian-Pac-Islander rows are dropped
    # 5 occupations among the kept rows, "?" included: 4 columns after dropping the first
    assert len([n for n in b.info.feature_names if n.startswith("occupation_")]) == 4
    assert int(b.train.y.sum() + b.test.y.sum()) == 20
