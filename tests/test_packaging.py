"""The published package: its distribution name, the recipes it ships, ``toolkit recipes``,
recipes run by name, shell completion, and a wheel built from this checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import cli_in_process, subprocess_env
from test_cli import NO_TORCH

from toolkit.errors import UsageError
from toolkit.packaged import (
    CHECKOUT,
    INSTALLED,
    copy_recipe,
    partners,
    recipe_names,
    recipe_path,
    recipes_dir,
)
from toolkit.recipe import load_recipe
from toolkit.registry import BUILTIN_DIST, registry

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "recipes").glob("*.toml"))


# ----------------------------------------------------------------------------- the recipes


def test_the_helper_finds_every_shipped_recipe() -> None:
    assert recipes_dir() in (INSTALLED, CHECKOUT)
    assert recipe_names() == SHIPPED
    for name in SHIPPED:
        assert recipe_path(name).read_bytes() == (ROOT / "recipes" / f"{name}.toml").read_bytes()
        assert recipe_path(f"{name}.toml") == recipe_path(name)


def test_an_unknown_recipe_name_lists_close_matches() -> None:
    with pytest.raises(UsageError, match=r"unknown recipe 'quikstart'\. Did you mean 'quickstart'"):
        recipe_path("quikstart")
    with pytest.raises(UsageError, match="toolkit recipes ls"):
        recipe_path("../recipes/quickstart")  # a name, never a path out of the folder


def test_partners_follow_init_from() -> None:
    assert partners(recipe_path("backdoor_detect")) == [recipe_path("cifar8_backbone_quick").resolve()]
    assert partners(recipe_path("quickstart")) == []


def test_recipes_ls_lists_every_recipe_with_task_and_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli_in_process(["recipes", "ls"], capsys)
    assert code == 0, out
    for name in SHIPPED:
        assert name in out
    assert "Leave-one-class-out OOD detection on the bundled digits" in out  # quickstart's description
    assert "text_bias" in out and "fairness" in out  # tasks


def test_recipes_cp_copies_a_recipe_that_then_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli_in_process(["recipes", "cp", "quickstart"], capsys)  # into the current folder
    assert code == 0, out
    copied = tmp_path / "quickstart.toml"
    assert copied.read_bytes() == recipe_path("quickstart").read_bytes()
    assert load_recipe(copied).recipe.name == "quickstart"
    code, out = cli_in_process(["recipes", "cp", "quickstart.toml", str(tmp_path / "mine.toml")], capsys)
    assert code == 0, out
    assert (tmp_path / "mine.toml").read_bytes() == copied.read_bytes()


def test_recipes_cp_copies_the_init_from_partner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli_in_process(["recipes", "cp", "backdoor_detect", str(tmp_path / "mine")], capsys)
    assert code == 0, out
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [
        "backdoor_detect.toml",
        "cifar8_backbone_quick.toml",
    ]
    resolved = load_recipe(tmp_path / "mine" / "backdoor_detect.toml")  # init_from resolves beside it
    assert resolved.init is not None
    assert (
        Path(resolved.init.source).resolve() == (tmp_path / "mine" / "cifar8_backbone_quick.toml").resolve()
    )


def test_recipes_cp_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cifar8_backbone_quick.toml").write_text("# mine\n")
    code, out = cli_in_process(["recipes", "cp", "backdoor_detect"], capsys)
    assert code == 2, out
    assert "cifar8_backbone_quick.toml already exists" in out and "--force" in out
    assert (tmp_path / "cifar8_backbone_quick.toml").read_text() == "# mine\n"
    assert not (tmp_path / "backdoor_detect.toml").exists()  # not half of the pair
    code, out = cli_in_process(["recipes", "cp", "backdoor_detect", "--force"], capsys)
    assert code == 0, out
    assert (tmp_path / "cifar8_backbone_quick.toml").read_bytes() == recipe_path(
        "cifar8_backbone_quick"
    ).read_bytes()


def test_copy_recipe_refuses_a_folder_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "quickstart.toml").mkdir()
    with pytest.raises(UsageError, match="a folder is in the way"):
        copy_recipe("quickstart", tmp_path, force=True)


def test_recipes_cp_of_an_unknown_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli_in_process(["recipes", "cp", "quikstart"], capsys)
    assert code == 2
    assert "unknown recipe 'quikstart'" in out and "'quickstart'" in out and "toolkit recipes ls" in out


# ----------------------------------------------------------------------------- by name


@pytest.mark.parametrize("name", ["quickstart", "quickstart.toml"])
def test_validate_reads_a_packaged_recipe_by_name(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli_in_process(["validate", name], capsys)  # the test's empty folder has no such file
    assert code == 0, out
    assert f"{name}: valid (task ood; dataset digits; model small_cnn; detectors msp, energy)" in out


def test_a_file_in_the_folder_wins_over_the_packaged_name(tmp_path: Path) -> None:
    text = recipe_path("quickstart").read_text().replace('name = "quickstart"', 'name = "local"')
    (tmp_path / "quickstart.toml").write_text(text)
    assert load_recipe("quickstart.toml").recipe.name == "local"
    assert load_recipe("quickstart").recipe.name == "quickstart"  # no file named quickstart: the packaged


def test_a_missing_recipe_file_points_at_recipes_ls(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli_in_process(["validate", "no/such/recipe.toml"], capsys)
    assert code == 2
    assert "recipe file not found: no/such/recipe.toml" in out and "toolkit recipes ls" in out


# ----------------------------------------------------------------------------- distribution name


def test_builtins_belong_to_the_published_distribution() -> None:
    msp = registry("detectors").get("msp")
    assert msp.dist == BUILTIN_DIST == "trustworthy-ml-toolkit" and msp.builtin
    assert msp.qualified == "toolkit:msp"
    for spelled in ("toolkit:msp", "trustworthy-ml-toolkit:msp", "trustworthy_ml_toolkit:msp"):
        assert registry("detectors").get(spelled) == msp


def test_a_stale_record_of_the_former_name_is_not_a_second_provider(
    install_plugin: Callable[..., Path],
) -> None:
    # an install of this package from before the rename, never uninstalled: same names, same code
    install_plugin("toolkit", "0.0.9", {"toolkit.detectors": {"msp": "toolkit.detectors.msp:MSP"}})
    assert [e.dist for e in registry("detectors").entries() if e.name == "msp"] == [BUILTIN_DIST]
    assert not registry("detectors").clashes()
    assert registry("detectors").get("msp").builtin  # no warning (warnings are errors here)


def test_a_former_name_record_with_other_code_still_clashes(install_plugin: Callable[..., Path]) -> None:
    install_plugin("toolkit", "0.0.9", {"toolkit.detectors": {"msp": "toolkit.detectors.energy:Energy"}})
    assert set(registry("detectors").clashes()) == {"msp"}


# ----------------------------------------------------------------------------- completion


def _complete(words: str, cword: int) -> list[str]:
    env = subprocess_env()
    env.update({"_TOOLKIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    out = subprocess.run(
        [sys.executable, "-m", "toolkit"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_shell_completion_of_commands_and_recipe_names() -> None:
    assert "recipes" in _complete("toolkit rec", 1)
    assert _complete("toolkit recipes cp ood_f", 3) == ["ood_frog", "ood_frog_quick"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_print_without_torch(shell: str) -> None:
    env = subprocess_env()
    env["_TOOLKIT_COMPLETE"] = f"source_{shell}"
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH.format(args=[])], capture_output=True, text=True, env=env, timeout=120
    )
    assert "_TOOLKIT_COMPLETE" in out.stdout and "complete_" in out.stdout, out.stdout + out.stderr
    assert "TORCH False" in out.stdout


@pytest.mark.parametrize("args", [["recipes", "ls"], ["--help"]])
def test_recipes_ls_and_help_do_not_import_torch(args: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH.format(args=args)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert "EXIT 0" in out.stdout and "TORCH False" in out.stdout, out.stdout + out.stderr
    if args == ["--help"]:
        assert "--install-completion" in out.stdout and "--show-completion" in out.stdout


# ----------------------------------------------------------------------------- the wheel


def test_a_wheel_carries_the_recipes_under_the_new_name(tmp_path: Path) -> None:
    pytest.importorskip("build")
    pytest.importorskip("hatchling")  # --no-isolation: the installed backend, no download
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.startswith("trustworthy_ml_toolkit-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert {f"toolkit/recipes/{name}.toml" for name in SHIPPED} <= names
        assert "toolkit/packaged.py" in names and "toolkit/cli/recipes.py" in names
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = zf.read(meta).decode().splitlines()
        (points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = zf.read(points).decode()
    assert "Name: trustworthy-ml-toolkit" in headers
    assert not any(
        h.startswith("Requires-Dist: toolkit") for h in headers
    )  # `all` names itself by the new name
    assert "toolkit = toolkit.cli:main" in entry_points
