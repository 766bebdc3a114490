"""The example plugin package: listed with its distribution, usable from a recipe and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import EXAMPLE_PLUGIN, example_plugin_site, run_cli, write_dist

from toolkit.execution.runner import run
from toolkit.recipe import load_recipe
from toolkit.registry import registry


def test_plugin_is_listed_with_its_distribution(plugin_paths: list[Path]) -> None:
    entry = registry("detectors").get("entropy")
    assert entry.dist == "toolkit-plugin-example" and entry.version == "0.1.0"
    assert entry.target == "toolkit_plugin_example.entropy:Entropy"
    assert [p.name for p in entry.signature().params] == ["temperature"]


def test_recipe_runs_with_the_plugin(plugin_paths: list[Path], tiny_recipe: Path) -> None:
    recipe = load_recipe(tiny_recipe, ["detectors.0.name=entropy"])
    result = run(recipe, console=None)
    assert set(result.metrics["detectors"]) == {"entropy", "energy"}
    meta = json.loads((result.path / "meta.json").read_text())
    assert meta["components"]["detectors"][0]["distribution"] == "toolkit-plugin-example 0.1.0"


def test_cli_lists_shows_and_runs_the_plugin(tmp_path: Path, tiny_recipe: Path) -> None:
    paths = example_plugin_site(tmp_path / "site")
    listing = run_cli("list", "detectors", extra_path=paths)
    line = next(ln for ln in listing.stdout.splitlines() if ln.split()[1:2] == ["entropy"])
    assert "toolkit-plugin-example 0.1.0" in line
    shown = run_cli("show", "detectors", "entropy", extra_path=paths)
    assert "temperature" in shown.stdout and "entropy" in shown.stdout.lower()
    ran = run_cli("run", str(tiny_recipe), "--set", "detectors.0.name=entropy", "--quiet", extra_path=paths)
    assert ran.returncode == 0, ran.stderr
    metrics = json.loads((Path(ran.stdout.strip()) / "metrics.json").read_text())
    assert "entropy" in metrics["detectors"]


def test_broken_plugin_is_isolated_in_the_cli(tmp_path: Path, tiny_recipe: Path) -> None:
    site = write_dist(
        tmp_path / "site",
        "toolkit-broken-plugin",
        "0.0.1",
        {"toolkit.detectors": {"broken": "toolkit_broken_plugin.detector:Broken"}},
        {
            "toolkit_broken_plugin/__init__.py": "",
            "toolkit_broken_plugin/detector.py": "raise RuntimeError('this plugin is broken on purpose')\n",
        },
    )
    listing = run_cli("list", extra_path=[site])
    assert listing.returncode == 0 and "broken" in listing.stdout and "msp" in listing.stdout
    assert run_cli("run", str(tiny_recipe), "--quiet", extra_path=[site]).returncode == 0
    used = run_cli("run", str(tiny_recipe), "--set", "detectors.0.name=broken", extra_path=[site])
    assert used.returncode == 2, used.stderr
    for part in (
        "toolkit-broken-plugin 0.0.1",
        "toolkit_broken_plugin.detector:Broken",
        "RuntimeError",
        "this plugin is broken on purpose",
    ):
        assert part in used.stderr
    assert "Traceback" not in used.stderr


def test_example_plugin_has_its_own_package() -> None:
    assert (EXAMPLE_PLUGIN / "pyproject.toml").is_file()
    assert (EXAMPLE_PLUGIN / "toolkit_plugin_example" / "entropy.py").is_file()
