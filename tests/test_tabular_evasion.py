"""Evasion on tabular data: attacks move standardized Adult features and stay inside the
input domain the data set declares (per-feature standardized minimum and maximum)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import needs

from toolkit.errors import RecipeError, UsageError
from toolkit.execution.context import TaskContext
from toolkit.execution.log import RunLog
from toolkit.execution.pipeline import Pipeline
from toolkit.execution.runner import run
from toolkit.recipe import parse_recipe

needs("pandas")  # every test here attacks UCI Adult

RECIPE = {
    "task": "evasion",
    "name": "adult_evasion",
    "dataset": {"name": "adult"},
    "model": {"name": "mlp", "hidden": [32]},
    "train": {"epochs": 1, "batch_size": 256, "optimizer": "adam", "lr": 0.003},
    "attacks": [{"name": "fgsm"}, {"name": "pgd", "steps": 5}],
    "explainers": [{"name": "saliency"}],
    "evaluate": {"eps": [0.25, 1.0], "n": 300},
}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> TaskContext:
    from toolkit.execution.cache import ArtifactCache

    recipe = parse_recipe(RECIPE)
    cache = ArtifactCache(tmp_path_factory.mktemp("cache"))
    return TaskContext(Pipeline(recipe, device=torch.device("cpu"), cache=cache, log=RunLog(None, None)))


@pytest.mark.parametrize("index", [0, 1], ids=["fgsm", "pgd"])
def test_attacks_move_features_within_the_declared_bounds(context: TaskContext, index: int) -> None:
    from toolkit.baselines.attacks import attack_in_batches

    task = context.recipe.task.create()
    spec = context.recipe.attacks[index]
    data = context.data()
    domain = data.info.input_domain
    assert isinstance(domain.low, tuple) and len(domain.low) == data.info.input_shape[0]
    x, y = data.test.x[:300], data.test.y[:300]
    assert isinstance(x, torch.Tensor)
    model = context.model()
    x_adv, _ = attack_in_batches(task._attack(context, spec, 1.0), model, x, y, 256)
    moved = (x_adv - x).abs()
    assert moved.max() > 0.5, "the attack did not move the features"
    assert moved.max() <= 1.0 + 1e-5, "the attack exceeded its L-inf budget"
    assert domain.contains(x_adv), "the attack left the declared input domain"
    low, high = torch.tensor(domain.low), torch.tensor(domain.high)
    unclipped = x + torch.sign(x_adv - x)  # where the attack would have gone past a bound
    assert ((unclipped > high + 1e-6) | (unclipped < low - 1e-6)).any(), (
        "no bound was binding: the test is too weak"
    )
    at_bound = (x_adv - high).abs().lt(1e-6) | (x_adv - low).abs().lt(1e-6)
    assert at_bound.any()
    clean = task.predict(model, x)
    assert (task.predict(model, x_adv) != clean).float().mean() > 0.05


def test_art_clips_to_the_per_feature_bounds(context: TaskContext) -> None:
    needs("art")
    spec = parse_recipe(
        {**RECIPE, "attacks": [{"name": "art", "attack": "FastGradientMethod", "params": {"eps": 1.0}}]}
    )
    attack = context.build(spec.attacks[0])
    data = context.data()
    x, y = data.test.x[:64], data.test.y[:64]
    x_adv = attack(context.model(), x, y)
    assert data.info.input_domain.contains(x_adv) and (x_adv - x).abs().max() > 0.5


def test_torchattacks_refuses_a_domain_other_than_the_unit_interval(context: TaskContext) -> None:
    from toolkit.attacks.torchattacks_adapter import TorchAttacks
    from toolkit.errors import RecipeError

    torchattacks = {"name": "torchattacks", "attack": "FGSM", "params": {"eps": 1.0}}
    with pytest.raises(RecipeError, match=r"attacks\.0\.name: attack 'torchattacks' works on image data"):
        parse_recipe({**RECIPE, "attacks": [torchattacks]})  # refused before any data is loaded
    with pytest.raises(UsageError, match=r"torchattacks clips inputs to \[0, 1\].*per-feature bounds"):
        TorchAttacks(attack="FGSM", params={"eps": 1.0}).bind(context.data().info)


def test_evasion_task_runs_on_adult_with_feature_attributions(tmp_path: Path) -> None:
    needs("art")
    result = run(parse_recipe({**RECIPE, "baselines": {"art": ["fgsm"]}}), out_dir=tmp_path, console=None)
    metrics = json.loads((result.path / "metrics.json").read_text())
    for name in ("fgsm", "pgd"):
        robust = metrics["attacks"][name]["robust_accuracy"]
        assert robust[1] < robust[0] <= metrics["clean_accuracy"]
    assert (result.path / "figures" / "explain_saliency.png").is_file()
    # the reference attacks move the features within the same bounds as ours: they agree
    assert metrics["baselines"]["art"]["fgsm"]["agrees"], metrics["baselines"]
    with pytest.raises(RecipeError, match=r"baselines\.torchattacks: torchattacks works on images"):
        parse_recipe({**RECIPE, "baselines": {"torchattacks": ["fgsm"]}})
