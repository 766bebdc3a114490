"""The command line: torch-free commands, every bad input's message and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_RECIPE, run_cli, subprocess_env

NO_TORCH = """
import sys
from toolkit.cli import main
sys.argv = ["toolkit", *{args!r}]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("EXIT", code)
print("TORCH", "torch" in sys.modules)
"""


@pytest.mark.parametrize(
    "args",
    # validate imports the components a recipe names (to check their protocols), so it imports torch
    [["--help"], ["list"], ["list", "detectors", "m*"], ["show", "detectors", "msp"]],
)
def test_light_commands_do_not_import_torch(args: list[str], tiny_recipe: Path) -> None:
    args = [str(tiny_recipe) if a == "RECIPE" else a for a in args]
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH.format(args=args)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert "EXIT 0" in out.stdout, out.stdout + out.stderr
    assert "TORCH False" in out.stdout


def test_list_shows_distribution_and_filters() -> None:
    out = run_cli("list", "detectors", "m*")
    assert out.returncode == 0
    assert "msp" in out.stdout and "max_logit" in out.stdout and "trustworthy-ml-toolkit 0.1.0" in out.stdout
    assert "energy" not in out.stdout
    full = run_cli("list")
    for name in ("digits", "synthetic", "mlp", "small_cnn", "msp", "energy", "ood"):
        assert name in full.stdout


def test_show_prints_parameters_defaults_and_doc() -> None:
    out = run_cli("show", "detectors", "energy")
    assert out.returncode == 0
    assert "temperature" in out.stdout and "1.0" in out.stdout and "Liu et al." in out.stdout


def test_validate_ok(tiny_recipe: Path) -> None:
    out = run_cli("validate", str(tiny_recipe))
    assert out.returncode == 0 and "valid" in out.stdout


def check_usage_error(out: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    for fragment in fragments:
        assert fragment in out.stderr, out.stderr


def test_missing_recipe_file() -> None:
    check_usage_error(run_cli("run", "no/such/recipe.toml"), "recipe file not found: no/such/recipe.toml")


def test_unreadable_toml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "ood"\nname = "x"\n[dataset\nname = "digits"\n')
    check_usage_error(run_cli("validate", str(bad)), "is not valid TOML", "line 3")


def test_unknown_component(tiny_recipe: Path) -> None:
    out = run_cli("run", str(tiny_recipe), "--set", "detectors.0.name=mps")
    check_usage_error(out, "detectors.0.name: unknown detector 'mps'", "'msp'", "toolkit list detectors")
    assert not Path("runs").exists()


def test_bad_key(tiny_recipe: Path) -> None:
    text = tiny_recipe.read_text().replace("lr = 0.1", "lr_rate = 0.1")
    tiny_recipe.write_text(text)
    check_usage_error(
        run_cli("validate", str(tiny_recipe)), "train.lr_rate: unknown key, did you mean train.lr?"
    )


def test_wrong_type(tiny_recipe: Path) -> None:
    out = run_cli("validate", str(tiny_recipe), "--set", "train.epochs='three'")
    check_usage_error(out, "train.epochs:", "valid integer")


def test_unknown_set_key(tiny_recipe: Path) -> None:
    out = run_cli("validate", str(tiny_recipe), "--set", "train.epoch=1")
    check_usage_error(out, "train.epoch: unknown key, did you mean train.epochs? (set with --set)")


def test_unknown_command_and_option_are_usage_errors(tiny_recipe: Path) -> None:
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("run", str(tiny_recipe), "--bogus").returncode == 2


def test_unknown_kind() -> None:
    check_usage_error(run_cli("list", "detektors"), "unknown component kind 'detektors'")


def test_impossible_data_settings_are_usage_errors(tiny_recipe: Path) -> None:
    out = run_cli("run", str(tiny_recipe), "--set", "dataset.holdout=['c9']")
    check_usage_error(out, "dataset.holdout: unknown class 'c9'")
    leftovers = list(Path("runs").rglob("*")) if Path("runs").exists() else []
    assert not [p for p in leftovers if p.name.startswith(".partial") or (p / "metrics.json").exists()]


def test_failed_run_exits_1_and_leaves_no_run_folder(tmp_path: Path) -> None:
    """A run that fails mid-way (here, NaN scores) exits with 1 and removes its partial folder."""
    recipe = tmp_path / "nan.toml"
    recipe.write_text(TINY_RECIPE.replace("lr = 0.1", "lr = 1e30"))
    out = run_cli("run", str(recipe))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "run 'tiny' failed" in out.stderr and "Traceback" not in out.stderr
    assert "--debug" in out.stderr
    assert not Path("runs/tiny").exists()
    debug = run_cli("run", str(recipe), "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_run_compare_and_cache_commands(tiny_recipe: Path) -> None:
    first = run_cli("run", str(tiny_recipe))
    assert first.returncode == 0, first.stderr
    assert "held out accepted" in first.stdout and "run folder:" in first.stdout
    second = run_cli("run", str(tiny_recipe), "--quiet")
    assert second.returncode == 0
    folder = Path(second.stdout.strip())
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_cached"] is True
    runs = sorted(Path("runs/tiny").iterdir())
    assert len(runs) == 2
    compare = run_cli("compare", *map(str, runs))
    assert compare.returncode == 0 and "detectors.msp.auroc" in compare.stdout
    assert run_cli("compare", "runs/tiny").returncode == 0
    check_usage_error(run_cli("compare", "nowhere"), "not a run folder")
    listing = run_cli("cache", "ls")
    assert "model" in listing.stdout and "tiny: mlp trained on synthetic" in listing.stdout
    cleared = run_cli("cache", "clear")
    assert "removed 1 artifact" in cleared.stdout
    assert "is empty" in run_cli("cache", "ls").stdout


def test_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("toolkit ")


def test_cache_ls_lists_bad_entries_and_verify_fails_on_them(tmp_path: Path) -> None:

    import torch

    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache(os.environ["TOOLKIT_CACHE"])
    store.save("model", "good", {"w": torch.ones(2)}, {"description": "a good one"})
    (store.root / "model" / "broken.safetensors").write_bytes(
        b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!"
    )
    listing = run_cli("cache", "ls")
    assert listing.returncode == 0, listing.stderr
    assert "BAD" in listing.stdout and "a good one" in listing.stdout and "1 bad entry" in listing.stdout
    verified = run_cli("cache", "verify")
    assert verified.returncode == 1 and "BAD model/broken" in verified.stdout
    assert "1 of 2 entries" in verified.stdout and "Traceback" not in verified.stderr


def test_compare_differ_ignores_rounding_and_says_when_all_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import cli_in_process

    for name, auroc, extra in (("a", 0.5, {"z": "s"}), ("b", 0.5 + 1e-16, {"z": "s"}), ("c", 0.6, {})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"x": {"auroc": auroc}, "y": 1, **extra}))
    code, out = cli_in_process(["compare", "--differ", "a", "b"], capsys)
    assert code == 0 and "all 3 metrics agree across 2 runs" in out and "x.auroc" not in out
    code, out = cli_in_process(["compare", "--differ", "--tolerance", "0", "a", "b"], capsys)
    assert code == 0 and "x.auroc" in out and "1 of 3 metrics differ" in out
    code, out = cli_in_process(["compare", "--differ", "a", "c"], capsys)
    assert code == 0 and "x.auroc" in out and "z" in out and "y " not in out
    assert "2 of 3 metrics differ" in out
    code, out = cli_in_process(["compare", "a", "c"], capsys)  # --all: every row
    assert code == 0 and "y " in out
