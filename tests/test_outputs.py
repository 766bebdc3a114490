"""One forward pass per split: logits, penultimate features and named layers (hooks), the
penultimate features of a plain module through its declared head, predict and
probabilities, every optional declaration listed once, and the defend stage that applies a
poison filter and a training-loop defense together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from toolkit.errors import UsageError
from toolkit.models.layers import missing_layers
from toolkit.outputs import Outputs, predict, probabilities

ROOT = Path(__file__).resolve().parents[1]


class Counting(nn.Sequential):
    """A plain module (no forward_features) that counts its forward calls."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return super().forward(x)


def plain() -> Counting:
    torch.manual_seed(0)
    Counting.calls = 0
    return Counting(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def test_named_layers_come_from_the_one_pass_that_computes_the_logits() -> None:
    net, x = plain(), torch.randn(10, 4)
    out = Outputs(net, x, batch_size=4, layers=["0", "1"])
    with torch.no_grad():
        hidden = net[1](net[0](x))
        logits = net(x)
    Counting.calls = 0
    assert torch.allclose(out.layer("1"), hidden) and torch.allclose(out.layer("0"), net[0](x).detach())
    assert torch.allclose(out.logits, logits)
    assert out.passes == 1 and Counting.calls == 3  # one pass, in batches of 4
    out.layer("2")  # not asked for before the pass: one more
    assert out.passes == 2


def test_a_plain_module_gives_its_penultimate_features_through_its_declared_head() -> None:
    net, x = plain(), torch.randn(6, 4)
    with pytest.raises(UsageError, match=r"has no penultimate features: .* penultimate"):
        _ = Outputs(net, x).features
    net.penultimate = "2"  # the classification head: its input is the features
    with torch.no_grad():
        expected = net[1](net[0](x))
    out = Outputs(net, x)
    assert torch.allclose(out.features, expected) and out.passes == 1
    assert missing_layers(net, ["penultimate", "logits", "2", "9"]) == ["9"]


def test_an_unknown_layer_is_refused_before_any_pass_with_close_matches() -> None:
    net = plain()
    out = Outputs(net, torch.randn(3, 4))
    with pytest.raises(UsageError, match=r"has no layer '3'.*its layers: 0, 1, 2"):
        out.layer("3")
    assert out.passes == 0 and Counting.calls == 0


def test_predict_and_probabilities_are_the_argmax_and_softmax_of_the_logits() -> None:
    net, x = plain(), torch.randn(7, 4)
    with torch.no_grad():
        logits = net(x)
    assert torch.equal(predict(net, x, batch_size=3), logits.argmax(1))
    assert torch.allclose(probabilities(net, x), torch.softmax(logits, 1))
    assert not predict(net, x).is_inference()  # usable as an explainer's targets


def test_every_declaration_is_listed_once_and_documented() -> None:
    from toolkit.declarations import DECLARATIONS, declared

    with pytest.raises(KeyError):
        declared(object(), "not_a_declaration")
    guide = (ROOT / "docs" / "plugins.md").read_text()
    undocumented = [name for name in DECLARATIONS if f"`{name}`" not in guide]
    assert not undocumented, f"docs/plugins.md does not list {undocumented}"


FINE_TUNE = """
from toolkit.protocols import TrainingDefense


class FineTune(TrainingDefense):
    \"\"\"A loop of its own that records the samples it was given.\"\"\"

    def train(self, model, data, *, seed, device="cpu", progress=None):
        return [{"samples": float(len(data.train))}]
"""


def test_a_poison_filter_and_a_training_defense_are_both_applied(
    install_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.recipe import parse_recipe

    install_plugin(
        "toolkit-plugin-finetune", "0.1.0", {"toolkit.defenses": {"fine_tune": "finetune.d:FineTune"}},
        {"finetune/__init__.py": "", "finetune/d.py": FINE_TUNE},
    )  # fmt: skip
    recipe = parse_recipe({
        "task": "backdoor", "name": "both", "dataset": {"name": "digits"}, "model": {"name": "mlp"},
        "train": {"epochs": 1}, "attacks": [{"name": "patch_trigger", "target": "0", "size": 2}],
        "defenses": [{"name": "spectral_signature"}, {"name": "fine_tune"}],
        "evaluate": {"reference": False, "grid": 0}, "runtime": {"threads": 1},
    })  # fmt: skip
    pipeline = Pipeline(recipe, device=torch.device("cpu"), cache=None, log=RunLog(None, None))
    history = pipeline.defended().history
    flagged = history["flagged"]["spectral_signature"]
    n_train = len(pipeline.training_data().train)
    assert 0 < len(flagged) < n_train and history["training"]  # the filter ran, a fresh model trained
    assert history["fine_tune"] == [
        {"samples": float(n_train - len(flagged))}
    ]  # then the defense, on the rest


def test_validate_checks_named_layers_against_the_built_model(tmp_path: Path) -> None:
    from conftest import run_cli

    recipe = tmp_path / "r.toml"
    body = """task = "backdoor"\nname = "bd"\n[dataset]\nname = "{data}"\n[model]\nname = "small_cnn"
[[attacks]]\nname = "patch_trigger"\ntarget = "0"\nsize = 2
[[defenses]]\nname = "spectral_signature"\nlayer = "backbone.2"\n"""
    recipe.write_text(body.format(data="digits"))
    done = run_cli("validate", str(recipe))
    assert done.returncode == 0 and "layers backbone.2 found in the built small_cnn" in done.stdout
    recipe.write_text(body.format(data="cifar10"))
    empty = tmp_path / "no-data"
    done = run_cli("validate", str(recipe), env={"TOOLKIT_DATA": str(empty)})
    assert done.returncode == 0, done.stderr  # no data here: the names are not checked, and it says so
    assert "layers backbone.2 not checked: no model could be built here" in done.stdout
