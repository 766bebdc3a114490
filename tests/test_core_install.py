"""A core install, without the optional extras, imports and runs a recipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import subprocess_env

OPTIONAL = [
    "fairlearn",
    "torchattacks",
    "art",
    "shap",
    "lime",
    "captum",
    "transformers",
    "datasets",
    "pandas",
]

SCRIPT = """
import sys
from importlib.machinery import ModuleSpec

class Absent:
    # a loader for the optional packages that fails every import, as if not installed
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {{spec.name!r}} (blocked: optional extra)")

    def exec_module(self, module):
        pass

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {optional!r}:
            return ModuleSpec(name, Absent())
        return None

sys.meta_path.insert(0, Block())
from toolkit.cli import main
sys.argv = ["toolkit", "run", {recipe!r}, "--quiet", "--no-cache"]
main()
"""


def test_quickstart_slice_runs_without_optional_packages(tiny_recipe: Path) -> None:
    code = SCRIPT.format(optional=OPTIONAL, recipe=str(tiny_recipe))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=subprocess_env()
    )
    assert out.returncode == 0, out.stderr
    assert (Path(out.stdout.strip()) / "metrics.json").is_file()


def test_the_blocker_really_blocks(tiny_recipe: Path) -> None:
    code = SCRIPT.format(optional=OPTIONAL, recipe=str(tiny_recipe)).replace(
        "from toolkit.cli", "import shap\nfrom toolkit.cli"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=subprocess_env()
    )
    assert out.returncode != 0 and "blocked: optional extra" in out.stderr
