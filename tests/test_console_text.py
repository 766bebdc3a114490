"""User text reaches the console as text, never as markup: paths, patterns, metric names,
sentences and component names with square brackets are printed as they are, and nothing
fails after a run folder was written."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from conftest import TINY_RECIPE, run_cli
from rich.console import Console

from toolkit.cli.base import get_console, print_tables
from toolkit.execution.log import RunLog
from toolkit.results import Table

TRICKY = "great movie [/spoiler] the [bold]cat[/bold] sings ."


def test_run_folder_paths_with_brackets_are_printed_as_they_are(tmp_path: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    for out in ("o[/x]", "runs [v2]"):
        done = run_cli(
            "run", str(recipe), "--out", str(tmp_path / out), env={"TOOLKIT_CACHE": str(tmp_path / "c")}
        )
        assert done.returncode == 0, done.stderr
        found = re.search(r"run folder: (.+?)  \(report", done.stdout)
        assert found is not None and Path(found.group(1)).is_dir(), done.stdout
        assert f"/{out}/" in found.group(1)


def test_patterns_and_metric_names_with_brackets(tmp_path: Path) -> None:
    done = run_cli("list", "detectors", "[/x]")
    assert done.returncode == 0 and "no detectors match '[/x]'" in done.stdout, done.stderr
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    env = {"TOOLKIT_CACHE": str(tmp_path / "c")}
    for _ in range(2):
        assert run_cli("run", str(recipe), "--out", str(tmp_path / "runs"), env=env).returncode == 0
    folders = sorted((tmp_path / "runs" / "tiny").iterdir())
    for value, folder in zip((1.0, 2.0), folders, strict=True):
        metrics = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**metrics, "[/x]": value}))
    done = run_cli("compare", *map(str, folders))
    assert done.returncode == 0, done.stderr
    assert "[/x]" in done.stdout


def test_tables_and_log_lines_show_sentences_as_text(tmp_path: Path) -> None:
    console = get_console()
    console.file = io.StringIO()
    print_tables(console, [Table(title=f"{TRICKY!r}: acceptable", columns=["word"], rows=[[TRICKY]])])
    shown = console.file.getvalue()
    assert "[/spoiler]" in shown and "[bold]cat[/bold]" in shown

    user_console = Console(file=io.StringIO(), width=200)  # a caller's console, markup on
    log = RunLog(tmp_path / "log.txt", user_console)
    log.info(f"explaining {TRICKY}")
    log.info("a warning", style="yellow")
    log.close()
    assert TRICKY in user_console.file.getvalue()
    assert TRICKY in (tmp_path / "log.txt").read_text()


def test_report_replaces_a_linked_report_html_and_never_writes_through_it(tmp_path: Path) -> None:
    from conftest import run_cli

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    assert (
        run_cli(
            "run", str(recipe), "--out", str(tmp_path / "runs"), env={"TOOLKIT_CACHE": str(tmp_path / "c")}
        ).returncode
        == 0
    )
    (folder,) = (tmp_path / "runs" / "tiny").iterdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    (folder / "report.html").unlink()
    (folder / "report.html").symlink_to(outside)
    done = run_cli("report", str(folder))
    assert done.returncode == 0, done.stderr
    assert outside.read_text() == "precious"  # the link's target is untouched
    report = folder / "report.html"
    assert not report.is_symlink() and "<html" in report.read_text()
    assert report.stat().st_mode & 0o044  # readable like a file the run writes, not private
