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
