"""The plugin guide's examples run as written: its poisoning attacks are installed as a
plugin, and the backdoor task refuses the one without a trigger target at validate time and
runs the one with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from toolkit.errors import RecipeError
from toolkit.recipe import parse_recipe

ROOT = Path(__file__).resolve().parents[1]


def guide_class(name: str) -> str:
    """The python block of docs/plugins.md that defines class ``name``."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        if f"class {name}(" in block:
            return "import torch\n" + block
    raise AssertionError(f"docs/plugins.md has no python block defining {name}")


@pytest.fixture
def guide_attacks(install_plugin: Callable[..., Path]) -> None:
    install_plugin(
        "toolkit-plugin-guide",
        "0.1.0",
        {
            "toolkit.attacks": {
                "flip_some": "guide_attacks.flip:FlipSome",
                "corner_dot": "guide_attacks.dot:CornerDot",
            }
        },
        {
            "guide_attacks/__init__.py": "",
            "guide_attacks/flip.py": guide_class("FlipSome"),
            "guide_attacks/dot.py": guide_class("CornerDot"),
        },
    )


def backdoor(attack: str) -> dict:
    return {
        "task": "backdoor", "name": "guide", "dataset": {"name": "digits"},
        "model": {"name": "small_cnn", "channels": [16, 32]}, "train": {"epochs": 10, "optimizer": "adam", "lr": 0.003},
        "attacks": [{"name": attack}], "evaluate": {"reference": False, "grid": 2},
        "runtime": {"threads": 1},
    }  # fmt: skip


def test_the_guides_flipsome_is_refused_by_the_backdoor_task_at_validate(guide_attacks: None) -> None:
    with pytest.raises(RecipeError) as info:
        parse_recipe(backdoor("flip_some"))
    message = str(info.value)
    assert (
        "attacks.0.name: the backdoor task needs a poisoning attack with a trigger and a target class"
        in message
    )
    assert "lacks eligible(y), relabel(y)" in message and "toolkit-plugin-guide 0.1.0" in message


def test_the_guides_trigger_attack_runs_through_the_backdoor_task(
    guide_attacks: None, tmp_path: Path
) -> None:
    from toolkit.execution.runner import run

    result = run(parse_recipe(backdoor("corner_dot")), out_dir=tmp_path / "runs", use_cache=False)
    m = result.metrics
    assert m["n_poisoned"] > 0 and m["n_source_test"] > 0
    assert 0.0 <= m["attack_success_rate"] <= 1.0 and m["clean_accuracy"] > 0.5
    assert (result.path / "figures" / "poisoned_set.png").is_file()


LAYER_DETECTOR = '''
import torch


class MeanActivation:
    """Distance of a named layer's mean activation per channel from the training mean."""

    def __init__(self, *, layer: str = "backbone.1") -> None:
        self.layer = layer
        self.layers = (layer,)  # captured in the split's one forward pass

    def fit(self, model, train):
        self.mean_ = self._pooled(train).mean(0)
        return self

    def score(self, model, outputs):
        return -(self._pooled(outputs) - self.mean_).norm(dim=1)

    def _pooled(self, outputs):
        maps = outputs.layer(self.layer)  # (N, C, H, W) feature maps
        return maps.flatten(2).mean(2)
'''

CALIBRATION_TASK = '''
from toolkit.results import Table, TaskResult
from toolkit.tasks import kit


class Calibration:
    """Expected calibration error of any classifier (Guo et al. 2017), ten equal-width bins."""

    uses = ("model", "train")

    def __init__(self, *, bins: int = 10) -> None:
        self.bins = bins

    def run(self, ctx):
        data = ctx.data()
        p = kit.probabilities(ctx.model(), data.test.x, device=ctx.device)
        confidence, predicted = p.max(1)
        right = (predicted == data.test.y).float()
        edges = torch.linspace(0, 1, self.bins + 1)
        ece = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = (confidence > lo) & (confidence <= hi)
            if inside.any():
                ece += float(inside.float().mean() * (right[inside].mean() - confidence[inside].mean()).abs())
        table = Table("Calibration", ["ECE"], [[ece]])
        return TaskResult(metrics={"ece": ece}, tables=[table], figures=kit.training_curves(ctx))
'''


def test_the_two_typical_changes_run_as_plugins(install_plugin: Callable[..., Path], tmp_path: Path) -> None:
    """docs/architecture.md's two typical changes, each one file and one entry point: a task
    computing a new metric on any classifier, a detector reading a named layer's feature maps
    (captured in the one pass; a wrong layer name is refused before training)."""
    from toolkit.errors import UsageError
    from toolkit.execution.runner import run

    install_plugin(
        "toolkit-plugin-changes",
        "0.1.0",
        {
            "toolkit.detectors": {"mean_activation": "changes.det:MeanActivation"},
            "toolkit.tasks": {"calibration": "changes.task:Calibration"},
        },
        {
            "changes/__init__.py": "",
            "changes/det.py": LAYER_DETECTOR,
            "changes/task.py": "import torch\n" + CALIBRATION_TASK,
        },
    )
    model = {"name": "small_cnn", "channels": [8, 16]}
    common = {"dataset": {"name": "digits", "holdout": ["9"]}, "model": model,
              "train": {"epochs": 10, "optimizer": "adam", "lr": 0.003}, "runtime": {"threads": 1}}  # fmt: skip
    ood = run(
        parse_recipe({"task": "ood", "name": "layer", **common, "detectors": [{"name": "mean_activation"}]}),
        out_dir=tmp_path / "runs", use_cache=False,
    )  # fmt: skip
    auroc = ood.metrics["detectors"]["mean_activation"]["auroc"]
    assert 0.5 < auroc <= 1.0
    calibrated = run(parse_recipe({"task": "calibration", "name": "ece", **common}), out_dir=tmp_path / "runs",
                     use_cache=False)  # fmt: skip
    assert 0.0 <= calibrated.metrics["ece"] < 0.5
    wrong = {
        "task": "ood",
        "name": "bad",
        **common,
        "detectors": [{"name": "mean_activation", "layer": "backbone.99"}],
    }
    with pytest.raises(
        UsageError, match=r"detectors\.0 \(mean_activation\) reads: .* has no layer 'backbone\.99'"
    ):
        run(parse_recipe(wrong), out_dir=tmp_path / "runs", use_cache=False)


def guide_block(page: str, needle: str) -> str:
    """The python block of ``docs/<page>`` that contains ``needle``."""
    text = (ROOT / "docs" / page).read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        if needle in block:
            return "\n".join(line[4:] if line.startswith("    ") else line for line in block.splitlines())
    raise AssertionError(f"docs/{page} has no python block with {needle!r}")


MY_NET = """
from torch import nn


class MyNet(nn.Module):
    def __init__(self, *, width: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU())
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        return self.fc(self.body(x))
"""


def test_the_guides_model_plugin_runs_as_written(
    install_plugin: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/own-model.md's plugin route: the build function as written, one entry-point line,
    a recipe naming it with weights: evaluated as given, with the network's own predictions."""
    import json

    import numpy as np
    import torch
    from conftest import cli_in_process
    from safetensors.torch import save_file

    build = guide_block("own-model.md", "def build(info, *, width")
    install_plugin("my-package", "0.1.0", {"toolkit.models": {"my_net": "my_package.toolkit_model:build"}},
                   {"my_package/__init__.py": "", "my_package/net.py": MY_NET,
                    "my_package/toolkit_model.py": build})  # fmt: skip
    from my_package.net import MyNet  # type: ignore[import-not-found]

    from toolkit.data.digits import load

    torch.manual_seed(0)
    net = MyNet(width=64, classes=10).eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "my_net.safetensors")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'task = "classify"\nname = "mine"\n[dataset]\nname = "digits"\n'
        f'[model]\nname = "my_net"\nwidth = 64\nweights = "{(tmp_path / "my_net.safetensors").as_posix()}"\n'
    )
    code, printed = cli_in_process(["run", str(recipe), "--out", str(tmp_path / "out")], capsys)
    assert code == 0 and "model as given" in printed, printed
    (run,) = (tmp_path / "out" / "mine").iterdir()
    data = load(0)
    with torch.no_grad():
        theirs = net(data.test.x.float() / 255).argmax(1).numpy()
    assert np.array_equal(np.load(run / "samples" / "classify.npz")["prediction"], theirs)
    assert json.loads((run / "history.json").read_text()) == []
    from toolkit.testing import check_component  # the conformance checks the guide names

    check_component(
        "models", "my_net", params={"width": 64, "weights": str(tmp_path / "my_net.safetensors")}, data=data
    )
