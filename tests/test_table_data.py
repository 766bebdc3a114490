"""The table dataset: your own CSV or Parquet, prepared as Adult is, so Adult written out as a
table gives the adult dataset's tensors, split, groups and fairness metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli_in_process, needs

needs("pandas")

from toolkit.data import adult, table  # noqa: E402


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Adult's White and Black rows (what the adult dataset keeps), as a CSV."""
    frame = adult._select_rows(adult._read("bundled", None), ["race", "sex"], "white_vs_black")
    path = tmp_path_factory.mktemp("table") / "adult.csv"
    frame.to_csv(path, index=False)
    return path


TABLE = {
    "label": "income",
    "favourable": ">50K",
    "sensitive": {"race": "White", "sex": "Male"},
    "drop": ["fnlwgt"],
}


def test_adult_as_a_csv_gives_the_adult_datasets_tensors(adult_csv: Path) -> None:
    ours = table.load(0, path=str(adult_csv), **TABLE)  # type: ignore[arg-type]
    theirs = adult.load(0)
    assert ours.info.class_names == theirs.info.class_names
    assert ours.info.sensitive == theirs.info.sensitive
    assert ours.info.feature_names == theirs.info.feature_names
    for split in ("train", "test"):
        a, b = ours.split(split), theirs.split(split)
        assert torch.equal(a.y, b.y) and torch.allclose(a.x, b.x, atol=1e-6), split  # type: ignore[arg-type]
        assert all(torch.equal(a.groups[k], b.groups[k]) for k in b.groups)
    assert ours.info.domain == theirs.info.domain or np.allclose(ours.info.domain.low, theirs.info.domain.low)  # type: ignore[union-attr]
    assert ours.extras["encoders"]["categories"]["workclass"][0] == "?"


def test_parquet_gives_the_same_as_csv(adult_csv: Path, tmp_path: Path) -> None:
    needs("pyarrow")
    import pandas as pd

    parquet = tmp_path / "adult.parquet"
    pd.read_csv(adult_csv).to_parquet(parquet)
    a = table.load(1, path=str(adult_csv), **TABLE)  # type: ignore[arg-type]
    b = table.load(1, path=str(parquet), **TABLE)  # type: ignore[arg-type]
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)  # type: ignore[arg-type]


def test_a_fairness_recipe_on_the_csv_gives_the_adult_recipes_group_metrics(
    adult_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = '[model]\nname = "mlp"\n[train]\nepochs = 1\n[evaluate]\nadversary_auc = false\n'
    runs = {}
    for name, dataset in {
        "adult": '[dataset]\nname = "adult"\n',
        "csv": f'[dataset]\nname = "table"\npath = "{adult_csv.as_posix()}"\nlabel = "income"\nfavourable = ">50K"\n'
        'sensitive = {race = "White", sex = "Male"}\ndrop = ["fnlwgt"]\n',
    }.items():
        recipe = tmp_path / f"{name}.toml"
        recipe.write_text(f'task = "fairness"\nname = "{name}"\n{dataset}{body}')
        code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
        assert code == 0, printed
        (folder,) = (tmp_path / "out" / name).iterdir()
        runs[name] = json.loads((folder / "metrics.json").read_text())
    assert runs["csv"]["accuracy"] == runs["adult"]["accuracy"]
    for attr in ("race", "sex"):
        a, b = runs["csv"]["attributes"][attr], runs["adult"]["attributes"][attr]
        assert a["groups"] == b["groups"] and a["p_rule"] == b["p_rule"], attr
        assert a["equalized_odds_difference"] == b["equalized_odds_difference"]


def test_a_given_test_file_numeric_standardization_and_bounds(tmp_path: Path) -> None:
    rows = [f"{i},{'ab'[i % 2]},{'xyz'[i % 3]},{int(i % 4 == 0)}\n" for i in range(40)]
    (tmp_path / "train.csv").write_text("age,sex,colour,hired\n" + "".join(rows))
    (tmp_path / "test.csv").write_text("age,sex,colour,hired\n" + "".join(rows[:20]))
    bundle = table.load(0, path=str(tmp_path / "train.csv"), test_path=str(tmp_path / "test.csv"), label="hired",
                        favourable="1", sensitive={"sex": "a"}, standardize="numeric", bounds={"age": [0, 30]})  # fmt: skip
    assert len(bundle.train) == 40 and len(bundle.test) == 20
    assert bundle.info.feature_names == ["age", "colour_y", "colour_z"]
    assert set(bundle.train.x[:, 1].unique().tolist()) == {0.0, 1.0}  # one-hot columns kept as 0/1
    age = (torch.arange(40.0) - 19.5) / torch.arange(40.0).std(unbiased=False)
    assert torch.allclose(bundle.train.x[:, 0], age, atol=1e-5)  # type: ignore[index]
    assert bundle.info.domain.high[0] == pytest.approx(
        (30 - 19.5) / float(torch.arange(40.0).std(unbiased=False))
    )  # type: ignore[union-attr]
    assert bundle.info.class_names == ["0", "1"] and bundle.info.sensitive["sex"] == ("b", "a")


def test_every_task_that_takes_adult_takes_the_table(adult_csv: Path, tmp_path: Path) -> None:
    import pandas as pd

    from toolkit.execution.runner import run
    from toolkit.recipe import parse_recipe

    small = tmp_path / "small.csv"
    pd.read_csv(adult_csv).iloc[:3000].to_csv(small, index=False)
    dataset = {"name": "table", "path": str(small), **TABLE}
    debias = parse_recipe({
        "task": "fairness", "name": "t", "dataset": dataset, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 1},
        "defenses": [{"name": "adversarial_debiasing", "lambdas": {"race": 10.0, "sex": 10.0},
                      "iterations": 3, "pretrain_epochs": 1}],
        "evaluate": {"adversary_auc": False},
    })  # fmt: skip
    fair = run(debias, out_dir=tmp_path, console=None).metrics
    assert {"race", "sex"} <= set(fair["attributes"]) and "before" in fair
    evasion = parse_recipe({
        "task": "evasion", "name": "e", "dataset": dataset, "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 2}, "attacks": [{"name": "fgsm"}, {"name": "pgd", "steps": 5}],
        "evaluate": {"eps": [0.1, 1.0], "n": 200},
    })  # fmt: skip
    robust = run(evasion, out_dir=tmp_path, console=None).metrics
    weak, strong = robust["attacks"]["pgd"]["robust_accuracy"]
    assert strong <= weak <= robust["clean_accuracy"]


def test_a_dataframe_and_arrays_through_the_python_api(adult_csv: Path, tmp_path: Path) -> None:
    import pandas as pd

    import toolkit

    frame = pd.read_csv(adult_csv).iloc[:3000]
    frame.to_csv(tmp_path / "small.csv", index=False)
    recipe = {"task": "fairness", "name": "df", "model": {"name": "mlp", "hidden": [8]}, "train": {"epochs": 1},
              "evaluate": {"adversary_auc": False}, "dataset": {"name": "table", **TABLE}}  # fmt: skip
    from_frame = toolkit.run(recipe, data=frame, out_dir=tmp_path / "runs")
    from_file = toolkit.run(
        {**recipe, "dataset": {"name": "table", "path": str(tmp_path / "small.csv"), **TABLE}},
        out_dir=tmp_path / "runs",
    )
    assert from_frame.metrics["attributes"] == from_file.metrics["attributes"]
    assert from_frame.metrics["accuracy"] == from_file.metrics["accuracy"]
    with pytest.raises(toolkit.UsageError, match="needs the recipe's dataset table"):
        toolkit.run({**recipe, "dataset": {"name": "table"}}, data=frame, out_dir=tmp_path / "runs")
    # four arrays: the rows of the prepared table, as tensors
    bundle = table.load(0, path=str(tmp_path / "small.csv"), **TABLE)  # type: ignore[arg-type]
    arrays = (bundle.train.x.numpy(), bundle.train.y.numpy(), bundle.test.x, bundle.test.y)
    classify = {"task": "classify", "name": "arr", "model": {"name": "mlp", "hidden": [8]}, "train": {"epochs": 1},
                "dataset": {"name": "digits"}}  # fmt: skip
    result = toolkit.run(classify, data=arrays, out_dir=tmp_path / "runs")
    assert result.recipe["dataset"]["name"] == "python"
    assert np.array_equal(np.load(result.path / "samples" / "classify.npz")["label"], bundle.test.y.numpy())
    with pytest.raises(toolkit.DataError, match="must hold one label per row"):
        toolkit.run(
            classify, data=(arrays[0], arrays[1][:5], arrays[2], arrays[3]), out_dir=tmp_path / "runs"
        )


def test_a_tabular_model_trained_in_ones_own_loop_gets_a_fairness_report(
    adult_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's tabular flow: prepare the table as the run will, train in your own loop on
    its rows, export, and name the program with the same table."""
    import pandas as pd

    pd.read_csv(adult_csv).iloc[:3000].to_csv(tmp_path / "small.csv", index=False)
    bundle = table.load(0, path=str(tmp_path / "small.csv"), **TABLE)  # type: ignore[arg-type]
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(bundle.train.x.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(bundle.train.x), bundle.train.y).backward()  # type: ignore[arg-type]
        opt.step()
    net.eval()
    batch = torch.export.Dim("batch")
    torch.export.save(
        torch.export.export(net, (bundle.test.x[:4],), dynamic_shapes=({0: batch},)), tmp_path / "m.pt2"
    )  # type: ignore[index]
    with torch.no_grad():
        accuracy = float((net(bundle.test.x).argmax(1) == bundle.test.y).float().mean())  # type: ignore[arg-type]
    recipe = tmp_path / "fair.toml"
    recipe.write_text(
        f'task = "fairness"\nname = "fair"\n[dataset]\nname = "table"\npath = "{(tmp_path / "small.csv").as_posix()}"\n'
        'label = "income"\nfavourable = ">50K"\nsensitive = {race = "White", sex = "Male"}\ndrop = ["fnlwgt"]\n'
        f'[model]\nname = "torchscript"\npath = "{(tmp_path / "m.pt2").as_posix()}"\n'
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and "model as given" in printed, printed
    (run,) = (tmp_path / "out" / "fair").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert {"race", "sex"} <= set(metrics["attributes"])


def test_the_table_and_in_memory_datasets_pass_the_dataset_conformance_checks(
    adult_csv: Path, tmp_path: Path
) -> None:
    import pandas as pd

    from toolkit.data.in_memory import hold
    from toolkit.testing import check_component

    pd.read_csv(adult_csv).iloc[:2000].to_csv(tmp_path / "small.csv", index=False)
    check_component("datasets", "table", params={"path": str(tmp_path / "small.csv"), **TABLE})
    check_component(
        "datasets", "python", params={"key": hold(table.load(0, path=str(tmp_path / "small.csv"), **TABLE))}
    )  # type: ignore[arg-type]
