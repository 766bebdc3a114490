"""The fairness task end to end on Adult, in a small configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import needs

from toolkit.errors import RecipeError, UsageError
from toolkit.execution.runner import run
from toolkit.recipe import load_recipe, parse_recipe

needs("pandas")

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SMALL = ["train.epochs=1", "defenses.0.iterations=3", "defenses.0.pretrain_epochs=1"]


def test_debias_reports_before_and_after_and_shares_the_pretrained_model() -> None:
    result = run(load_recipe(RECIPES / "adult_debias.toml", SMALL), console=None)
    m = result.metrics
    for part in (m, m["before"]):
        assert 0.5 < part["accuracy"] <= 1
        for attr in ("race", "sex"):
            report = part["attributes"][attr]
            for key in ("p_rule", "disparate_impact", "statistical_parity_difference", "equal_opportunity_difference",
                        "average_odds_difference", "equalized_odds_difference", "adversary_auc", "groups"):  # fmt: skip
                assert key in report
            assert set(report["groups"]) == {"0", "1"}  # JSON keys
        assert len(part["intersection"]["groups"]) == 4
    figures = {p.stem for p in (result.path / "figures").iterdir()}
    assert figures == {
        "training_curves",
        "probabilities_before",
        "probabilities_after",
        "adversarial_debiasing_history",
    }
    assert result.meta["model_cached"] is False and result.meta["defense_cached"] is False
    # adult_unfair shares data, model and training: its model comes from the cache
    unfair = run(load_recipe(RECIPES / "adult_unfair.toml", ["train.epochs=1"]), console=None)
    assert unfair.meta["model_cached"] is True
    assert unfair.metrics["accuracy"] == pytest.approx(m["before"]["accuracy"])
    assert unfair.metrics["attributes"]["sex"]["p_rule"] == pytest.approx(
        m["before"]["attributes"]["sex"]["p_rule"]
    )
    again = run(load_recipe(RECIPES / "adult_debias.toml", SMALL), console=None)
    assert again.meta["defense_cached"] is True
    assert (again.path / "metrics.json").read_text() == (result.path / "metrics.json").read_text()


def test_baselines_agree_and_compare() -> None:
    needs("fairlearn")
    recipe = load_recipe(
        RECIPES / "adult_baselines.toml",
        [*SMALL, 'baselines.fairlearn=["metricframe", "threshold_optimizer", "exponentiated_gradient"]'],
    )
    result = run(recipe, console=None)
    base = result.metrics["baselines"]["fairlearn"]
    assert base["metricframe"]["agrees"] is True and base["metricframe"]["max_abs_difference"] <= 1e-9
    assert base["metricframe"]["values_compared"] == 2 * (2 * 5 + 2)
    for name in ("threshold_optimizer", "exponentiated_gradient"):
        assert 0.5 < base[name]["accuracy"] < 1 and base[name]["seconds"] > 0
    # the threshold optimizer protects sex: its p%-rule for sex is close to parity
    assert base["threshold_optimizer"]["attributes"]["sex"]["p_rule"] > 85
    table = result.tables[0]
    assert [r[0] for r in table.rows][-2:] == [
        "fairlearn threshold_optimizer (sex)",
        "fairlearn exponentiated_gradient (sex)",
    ]
    html = (result.path / "report.html").read_text()
    assert "fairlearn threshold_optimizer" in html


@pytest.mark.slow
def test_fairlearn_adversarial_baseline_runs() -> None:
    needs("fairlearn")
    recipe = load_recipe(
        RECIPES / "adult_baselines.toml",
        [*SMALL, 'baselines.fairlearn=["adversarial"]', "evaluate.baseline_epochs=1"],
    )
    base = run(recipe, console=None).metrics["baselines"]["fairlearn"]
    assert 0.5 < base["adversarial"]["accuracy"] < 1


def test_bad_fairness_recipes() -> None:
    data = json.loads(json.dumps({"task": "fairness", "name": "x", "dataset": {"name": "adult"}, "model": {"name": "mlp"},
                                  "baselines": {"fairlearn": ["metricframes"], "art": ["fgsm"]}}))  # fmt: skip
    with pytest.raises(RecipeError) as err:
        parse_recipe(data)
    found = [str(p) for p in err.value.problems]
    assert any(
        p.startswith(
            "baselines.fairlearn.0: unknown fairlearn baseline 'metricframes'; did you mean 'metricframe'"
        )
        for p in found
    )
    assert any(
        p.startswith("baselines.art: the 'fairness' task offers baselines from fairlearn") for p in found
    )
    ood = {"task": "ood", "name": "x", "dataset": {"name": "digits"}, "model": {"name": "mlp"},
           "detectors": [{"name": "msp"}], "baselines": {"fairlearn": ["metricframe"]}}  # fmt: skip
    with pytest.raises(RecipeError, match="does not use baselines"):
        parse_recipe(ood)
    digits = parse_recipe({"task": "fairness", "name": "x", "dataset": {"name": "digits"}, "model": {"name": "mlp"},
                           "train": {"epochs": 0}})  # fmt: skip
    with pytest.raises(UsageError, match="needs sensitive attributes"):
        run(digits, console=None)


def test_a_group_without_test_samples_is_nan_everywhere_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adult without a row of the privileged race: the race metrics are NaN (null in
    metrics.json), never 0.0 (which reads as perfectly fair), and the run says why."""
    import gzip

    from conftest import cli_in_process

    from toolkit.data import adult

    with gzip.open(adult.BUNDLED / "adult.data.gz", "rt") as fh:
        rows = [line for line in fh.read().splitlines() if line and " White," not in line][:600]
    (tmp_path / "adult").mkdir()
    (tmp_path / "adult" / "adult.data").write_text("\n".join(rows) + "\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'task = "fairness"\nname = "adult"\n[dataset]\nname = "adult"\n'
        f'data_dir = "{(tmp_path / "adult").as_posix()}"\n[model]\nname = "mlp"\n[train]\nepochs = 1\n'
        '[baselines]\nfairlearn = ["metricframe"]\n' * needs_fairlearn()
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, printed
    assert "race: no test sample is in the group 'White'" in " ".join(printed.split())
    assert "EmptyGroupWarning" not in printed  # said once, in the run's words
    (folder,) = (tmp_path / "out" / "adult").iterdir()
    race = json.loads((folder / "metrics.json").read_text())["attributes"]["race"]
    between = ["p_rule", "disparate_impact", "statistical_parity_difference", "equal_opportunity_difference",
               "average_odds_difference", "equalized_odds_difference"]  # fmt: skip
    assert all(race[key] is None for key in between), race
    assert race["groups"]["1"]["count"] == 0 and race["groups"]["1"]["tpr"] is None
    assert race["groups"]["0"]["count"] > 0
    assert "no test sample is in the group 'White'" in (folder / "log.txt").read_text()
    sex = json.loads((folder / "metrics.json").read_text())["attributes"]["sex"]
    assert isinstance(sex["equalized_odds_difference"], float)  # the other attribute is unaffected


def needs_fairlearn() -> bool:
    """Whether fairlearn is installed (its MetricFrame check then runs beside ours)."""
    import importlib.util

    return importlib.util.find_spec("fairlearn") is not None
