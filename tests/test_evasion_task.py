"""The evasion task end to end on the bundled digits, in a small configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import needs

from toolkit.errors import RecipeError
from toolkit.execution.runner import run
from toolkit.recipe import load_recipe, parse_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SMALL = ["train.epochs=3", "evaluate.n=120", 'evaluate.eps=["8/255", "32/255"]', "evaluate.grid=4"]


def test_evasion_digits_with_baselines() -> None:
    needs("torchattacks", "art")
    result = run(load_recipe(RECIPES / "evasion_digits.toml", SMALL), console=None)
    m = result.metrics
    assert m["n"] == 120 and 0.5 < m["clean_accuracy"] <= 1
    for name in ("fgsm", "pgd"):
        record = m["attacks"][name]
        assert record["eps"] == pytest.approx([8 / 255, 32 / 255])
        assert max(record["robust_accuracy"]) <= m["clean_accuracy"]
        assert min(record["robust_accuracy"]) < m["clean_accuracy"]
        assert len(record["confusion"][0]) == 10 and sum(map(sum, record["confusion"][0])) == 120
    base = m["baselines"]
    for library in ("torchattacks", "art"):
        assert base[library]["fgsm"]["agrees"] and base[library]["fgsm"]["difference"] == 0
        assert base[library]["pgd"]["agrees"]
    figures = {p.stem for p in (result.path / "figures").iterdir()}
    assert {
        "robust_accuracy",
        "confusion_after_attack",
        "examples",
        "explain_saliency",
        "training_curves",
    } <= figures


def test_adversarial_training_recipe_reports_both_models() -> None:
    sets = [*SMALL, "defenses.0.params.steps=2", "baselines={}"]
    result = run(load_recipe(RECIPES / "evasion_digits_advtrain.toml", sets), console=None)
    m = result.metrics
    assert "undefended" in m and set(m["undefended"]["attacks"]) == {"fgsm", "pgd"}
    figures = {p.stem for p in (result.path / "figures").iterdir()}
    assert {"explain_saliency_without_defense", "explain_saliency_with_defense"} <= figures
    # the undefended model is the one evasion_digits trains: shared through the cache
    plain = run(load_recipe(RECIPES / "evasion_digits.toml", [*SMALL, "baselines={}"]), console=None)
    assert plain.meta["model_cached"] is True
    assert plain.metrics["clean_accuracy"] == pytest.approx(m["undefended"]["clean_accuracy"])


def test_bad_evasion_recipes() -> None:
    base = {"task": "evasion", "name": "x", "dataset": {"name": "digits"}, "model": {"name": "mlp"}}
    with pytest.raises(RecipeError, match="needs at least one entry in attacks"):
        parse_recipe(base)
    with pytest.raises(RecipeError, match="unknown torchattacks baseline 'cw'"):
        parse_recipe({**base, "attacks": [{"name": "fgsm"}], "baselines": {"torchattacks": ["cw"]}})
    with pytest.raises(RecipeError, match=r"attacks\.0\.eps"):
        parse_recipe({**base, "attacks": [{"name": "fgsm", "eps": -1}]})
