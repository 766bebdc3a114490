"""What a plugin author meets: name clashes, import failures, qualified names, code changes
that retrain, and requirements checked at validate time."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TINY_RECIPE, run_cli, write_dist

from toolkit.errors import RecipeError, ToolkitWarning
from toolkit.execution.runner import run
from toolkit.recipe import load_recipe, parse_recipe
from toolkit.registry import refresh

ROOT = Path(__file__).resolve().parents[1]

MSP_CLONE = """
import torch
from toolkit.detectors.msp import msp_score


class Clone:
    \"\"\"A plugin's own msp: the maximum softmax probability at temperature 2.\"\"\"

    def fit(self, model, train):
        return self

    def score(self, model, x):
        return msp_score(x.logits, 2.0)
"""

WRONG_BUDGET = """
from toolkit.protocols import EvasionAttack


class Nudge(EvasionAttack):
    \"\"\"Declares a budget parameter it does not have.\"\"\"

    budget = "epsilon"

    def __init__(self, *, eps: float = 0.1) -> None:
        self.eps = eps

    def __call__(self, model, x, y):
        return self.domain.clamp(x + self.eps)
"""

NO_BUDGET = """
from toolkit.protocols import EvasionAttack


class Noise(EvasionAttack):
    \"\"\"Adds a fixed offset; it has no budget to sweep.\"\"\"

    def __call__(self, model, x, y):
        return self.domain.clamp(x + 0.01)
"""


def clash_site(tmp_path: Path, version: str = "1.0.0", source: str = MSP_CLONE) -> Path:
    site = write_dist(
        tmp_path / f"site-{version}",
        "toolkit-plugin-clash",
        version,
        {"toolkit.detectors": {"msp": "toolkit_plugin_clash.det:Clone"}},
        {"toolkit_plugin_clash/__init__.py": "", "toolkit_plugin_clash/det.py": source},
    )
    return site


@pytest.fixture
def clash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = clash_site(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    refresh()
    return site


def test_the_builtin_name_wins_a_clash_with_a_warning(clash: Path) -> None:
    with pytest.warns(
        ToolkitWarning, match="also registered by toolkit-plugin-clash 1.0.0.*toolkit-plugin-clash:msp"
    ):
        recipe = load_recipe(ROOT / "recipes" / "quickstart.toml")
    assert recipe.detectors[0].entry.builtin
    picked = load_recipe(ROOT / "recipes" / "quickstart.toml", ["detectors.0.name=toolkit-plugin-clash:msp"])
    assert picked.detectors[0].entry.dist == "toolkit-plugin-clash"


def test_results_use_qualified_names_when_names_clash(clash: Path, tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE)
    recipe = load_recipe(path, ["detectors.0.name=toolkit:msp", "detectors.1.name=toolkit-plugin-clash:msp"])
    assert [recipe.label("detectors", i) for i in range(2)] == ["toolkit:msp", "toolkit-plugin-clash:msp"]
    result = run(recipe, console=None)
    assert set(result.metrics["detectors"]) == {"toolkit:msp", "toolkit-plugin-clash:msp"}
    # the plugin's msp alone is still named by its distribution, never as the built-in
    alone = load_recipe(path, ["detectors.0.name=toolkit-plugin-clash:msp"])
    assert alone.label("detectors", 0) == "toolkit-plugin-clash:msp"
    # the same component twice keeps the index suffix
    twice = load_recipe(path, ["detectors.0.name=toolkit:msp", "detectors.1.name=toolkit:msp"])
    assert [twice.label("detectors", i) for i in range(2)] == ["msp_0", "msp_1"]


def broken_site(tmp_path: Path, source: str) -> Path:
    """A distribution whose detector module is ``source`` (made to fail on import)."""
    return write_dist(
        tmp_path / "broken",
        "toolkit-plugin-broken",
        "0.0.1",
        {"toolkit.detectors": {"broken": "toolkit_plugin_broken.det:Broken"}},
        {"toolkit_plugin_broken/__init__.py": "", "toolkit_plugin_broken/det.py": source},
    )


def test_list_marks_clashes_and_import_failures(tmp_path: Path) -> None:
    broken = broken_site(tmp_path, "raise RuntimeError('on purpose')\n")
    out = run_cli("list", "detectors", extra_path=[clash_site(tmp_path), broken])
    assert out.returncode == 0, out.stderr
    lines = {ln.split()[1] + " " + ln.split()[2]: ln for ln in out.stdout.splitlines()[1:] if ln.strip()}
    assert (
        "name clash" in lines["msp trustworthy-ml-toolkit"]
        and "used by default" in lines["msp trustworthy-ml-toolkit"]
    )
    assert "name clash" in lines["msp toolkit-plugin-clash"]
    assert "toolkit-plugin-clash:msp" in lines["msp toolkit-plugin-clash"]
    assert (
        "fails to import" in lines["broken toolkit-plugin-broken"]
        and "on purpose" in lines["broken toolkit-plugin-broken"]
    )
    assert (
        "note" not in lines.get("energy trustworthy-ml-toolkit", "")
        and "clash" not in lines["energy trustworthy-ml-toolkit"]
    )


def test_validate_fails_for_a_component_that_does_not_import(tmp_path: Path) -> None:
    broken = broken_site(tmp_path, "import not_a_module_anywhere\n\nclass Broken:\n    pass\n")
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE)
    out = run_cli("validate", str(path), "--set", "detectors.0.name=broken", extra_path=[broken])
    assert out.returncode == 2
    assert "detectors.0.name" in out.stderr and "toolkit-plugin-broken 0.0.1" in out.stderr
    assert "not_a_module_anywhere" in out.stderr and "Traceback" not in out.stderr


def test_editing_or_upgrading_a_component_retrains(
    install_plugin: Callable[..., Path], tmp_path: Path
) -> None:
    """The model stage does not depend on a detector, but a plugin model's code does."""
    model_v1 = textwrap.dedent(
        """
        from toolkit.models.mlp import build as mlp
        from toolkit_plugin_model.helper import WIDTH


        def build(info, *, width: int = WIDTH):
            \"\"\"An MLP with one hidden layer.\"\"\"
            return mlp(info, hidden=[width])
        """
    )
    site = install_plugin(
        "toolkit-plugin-model",
        "1.0.0",
        {"toolkit.models": {"tiny_mlp": "toolkit_plugin_model.m:build"}},
        {
            "toolkit_plugin_model/__init__.py": "",
            "toolkit_plugin_model/m.py": model_v1,
            "toolkit_plugin_model/helper.py": "WIDTH = 8\n",
        },
    )
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE.replace('name = "mlp"\nhidden = [16]', 'name = "tiny_mlp"'))
    first = run(load_recipe(path), console=None)
    again = run(load_recipe(path), console=None)
    assert json.loads((again.path / "meta.json").read_text())["model_cached"] is True
    (site / "toolkit_plugin_model" / "m.py").write_text(model_v1 + "\n# a comment changes the source\n")
    refresh()
    edited = run(load_recipe(path), console=None)
    assert json.loads((edited.path / "meta.json").read_text())["model_cached"] is False
    assert edited.meta["fingerprints"]["train"] != first.meta["fingerprints"]["train"]
    assert edited.meta["fingerprints"]["data"] == first.meta["fingerprints"]["data"]
    # so does editing a module the component imports
    (site / "toolkit_plugin_model" / "helper.py").write_text("WIDTH = 8  # the same value, other source\n")
    refresh()
    helper_edited = load_recipe(path).fingerprints()
    assert helper_edited["train"] != edited.meta["fingerprints"]["train"]
    (site / "toolkit_plugin_model-1.0.0.dist-info").rename(site / "toolkit_plugin_model-1.1.0.dist-info")
    meta = site / "toolkit_plugin_model-1.1.0.dist-info" / "METADATA"
    meta.write_text(meta.read_text().replace("1.0.0", "1.1.0"))
    refresh()
    upgraded = load_recipe(path)
    assert upgraded.model is not None and upgraded.model.entry.version == "1.1.0"
    assert upgraded.fingerprints()["train"] != edited.meta["fingerprints"]["train"]


def test_a_budget_sweep_needs_attacks_with_a_budget(install_plugin: Callable[..., Path]) -> None:
    install_plugin(
        "toolkit-plugin-noise",
        "0.1.0",
        {
            "toolkit.attacks": {
                "noise": "toolkit_plugin_noise.a:Noise",
                "nudge": "toolkit_plugin_noise.b:Nudge",
            }
        },
        {
            "toolkit_plugin_noise/__init__.py": "",
            "toolkit_plugin_noise/a.py": NO_BUDGET,
            "toolkit_plugin_noise/b.py": WRONG_BUDGET,
        },
    )
    base = {"task": "evasion", "name": "e", "dataset": {"name": "synthetic"}, "model": {"name": "mlp"},
            "attacks": [{"name": "fgsm"}, {"name": "noise"}]}  # fmt: skip
    with pytest.raises(RecipeError, match=r"attacks\.1\.name: attack 'noise' declares no budget"):
        parse_recipe({**base, "evaluate": {"eps": [0.1]}})
    parse_recipe(base)  # without a sweep each attack uses its own settings
    wrong = {**base, "attacks": [{"name": "nudge"}], "evaluate": {"eps": [0.1]}}
    with pytest.raises(RecipeError, match="declares the budget 'epsilon', but has no parameter 'epsilon'"):
        parse_recipe(wrong)


def test_explainers_are_checked_against_the_data_modality() -> None:
    base = {"task": "evasion", "name": "e", "dataset": {"name": "adult"}, "model": {"name": "mlp"},
            "attacks": [{"name": "fgsm"}]}  # fmt: skip
    with pytest.raises(
        RecipeError,
        match=r"explainers\.0\.name: explainer 'grad_cam' works on image data, but the dataset 'adult' is tabular",
    ):
        parse_recipe({**base, "explainers": [{"name": "grad_cam"}]})
    parse_recipe({**base, "explainers": [{"name": "saliency"}, {"name": "integrated_gradients"}]})


def test_a_component_of_no_family_is_refused(install_plugin: Callable[..., Path]) -> None:
    install_plugin(
        "toolkit-plugin-stringly",
        "0.1.0",
        {"toolkit.defenses": {"stringly": "toolkit_plugin_stringly.d:Stringly"}},
        {
            "toolkit_plugin_stringly/__init__.py": "",
            "toolkit_plugin_stringly/d.py": "class Stringly:\n    hook = 'batch'\n\n    def transform(self, model, x, y):\n        return x, y\n",
        },
    )
    with pytest.raises(RecipeError) as info:
        parse_recipe({"task": "evasion", "name": "e", "dataset": {"name": "synthetic"}, "model": {"name": "mlp"},
                      "attacks": [{"name": "fgsm"}], "defenses": [{"name": "stringly"}]})  # fmt: skip
    message = str(info.value)
    assert "defenses.0.name" in message and "toolkit-plugin-stringly 0.1.0" in message
    assert "toolkit.protocols.BatchDefense" in message
