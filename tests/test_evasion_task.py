"""The evasion task end to end on the bundled digits, in a small configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
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
    # Carlini et al.'s sanity checks: on the shipped model, none raises a flag
    assert m["sanity_flags"] == [], m["sanity"]
    assert m["sanity"]["above_chance_at_large_budget"]["accuracy"] <= 0.1 + 0.01
    assert m["sanity"]["black_box_beats_white_box"]["flag"] is None  # no black-box attack here
    assert any(t.title.startswith("Sanity checks") for t in result.tables)


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


class Quantized(torch.nn.Module):
    """A digits classifier behind input quantization: gradients are zero almost everywhere,
    the textbook way to mask them (Carlini et al. 2019, Athalye et al. 2018)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 2) / 2)


def test_a_model_that_masks_its_gradients_raises_a_sanity_flag(tmp_path: Path) -> None:
    import toolkit

    plain = run(load_recipe(RECIPES / "evasion_digits.toml", [*SMALL, "baselines={}"]), console=None)
    assert plain.metrics["sanity_flags"] == []
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline

    recipe = load_recipe(RECIPES / "evasion_digits.toml", [*SMALL, "baselines={}"])
    from toolkit.execution.cache import ArtifactCache

    net = (
        Pipeline(recipe, device=torch.device("cpu"), cache=ArtifactCache(), log=RunLog(None, None))
        .trained()
        .model
    )
    table = {"task": "evasion", "name": "masked", "dataset": {"name": "digits"},
             "attacks": [{"name": "fgsm"}, {"name": "pgd", "steps": 10}],
             "evaluate": {"n": 120, "eps": ["8/255", "32/255"]}}  # fmt: skip
    masked = toolkit.run(table, model=Quantized(net.eval()), out_dir=tmp_path)
    assert "zero_or_nonfinite_gradients" in masked.metrics["sanity_flags"], masked.metrics["sanity"]
    assert "sanity check" in (masked.path / "log.txt").read_text()


def test_the_sanity_checks_on_hand_made_results() -> None:
    from toolkit.tasks.sanity import _black_box, _iterative, _monotone

    kinds = {"fgsm": "single", "pgd": "iterative", "square": "black_box"}
    attacks = {
        "fgsm": {"eps": [0.1, 0.2], "robust_accuracy": [0.5, 0.3]},
        "pgd": {"eps": [0.1, 0.2], "robust_accuracy": [0.6, 0.1]},  # weaker than FGSM at 0.1
        "square": {"eps": [0.1, 0.2], "robust_accuracy": [0.2, 0.4]},  # rises; beats both at 0.1
    }
    assert _iterative(attacks, kinds, 0.01)["flag"] is True
    assert _monotone(attacks, 0.01)["flag"] is True and "square" in _monotone(attacks, 0.01)["detail"]
    assert _black_box(attacks, kinds, 0.01)["flag"] is True
    fine = {"fgsm": {"eps": [0.1, 0.2], "robust_accuracy": [0.5, 0.3]},
            "pgd": {"eps": [0.1, 0.2], "robust_accuracy": [0.4, 0.1]}}  # fmt: skip
    assert _iterative(fine, kinds, 0.01)["flag"] is False and _monotone(fine, 0.01)["flag"] is False
    assert _black_box(fine, {"fgsm": "single", "pgd": "iterative"}, 0.01)["flag"] is None


def test_autoattack_is_the_headline_and_at_least_as_strong_as_pgd20() -> None:
    """RobustBench's practice: on the same model and samples, AutoAttack's robust accuracy is
    at most one point above the toolkit's PGD-20 (usually below)."""
    needs("torchattacks")
    sets = ["train.epochs=3", "evaluate.n=60", 'evaluate.eps=["8/255", "32/255"]']
    result = run(load_recipe(RECIPES / "evasion_digits_autoattack.toml", sets), console=None)
    m = result.metrics
    pgd, auto = m["attacks"]["pgd"]["robust_accuracy"], m["attacks"]["autoattack"]["robust_accuracy"]
    for a, p in zip(auto, pgd, strict=True):
        assert a <= p + 0.01, (auto, pgd)
    assert m["headline"] == {
        "attack": "autoattack",
        "eps": m["attacks"]["autoattack"]["eps"],
        "robust_accuracy": auto,
    }
    assert m["sanity_flags"] == [], m["sanity"]


def test_autoattacks_own_checks_flag_a_randomized_model_and_softmax_outputs() -> None:
    """The checks the reference AutoAttack package runs (autoattack/checks.py): randomness in
    eval mode, and probabilities where logits belong; plain logits raise neither."""
    from toolkit.tasks.sanity import _autoattack_checks

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4))
    x = torch.rand(8, 1, 4, 4)

    class Noisy(torch.nn.Module):  # a randomized defense: noise even in eval mode
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return net(inputs + 0.1 * torch.randn_like(inputs))

    class Softmax(torch.nn.Module):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return torch.softmax(net(inputs), dim=1)

    plain = _autoattack_checks(net, x)
    assert (
        plain["randomized_outputs"]["flag"] is False and plain["outputs_are_probabilities"]["flag"] is False
    )
    noisy = _autoattack_checks(Noisy(), x)
    assert (
        noisy["randomized_outputs"]["flag"] is True
        and "version = 'rand'" in noisy["randomized_outputs"]["detail"]
    )
    assert _autoattack_checks(Softmax(), x)["outputs_are_probabilities"]["flag"] is True
