"""docs/python.md runs as written: its python blocks, in order, in one namespace, offline."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "python.md").read_text(), flags=re.S)


def test_the_python_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    code = blocks()
    assert len(code) >= 5
    with contextlib.redirect_stdout(printed):
        for block in code:
            exec(compile(block, "docs/python.md", "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert Path(lines[0]).is_dir() and Path(lines[0], "metrics.json").is_file()
    assert 0.5 < float(lines[1]) <= 1  # the quickstart's accuracy after two epochs
    assert 0.5 < float(lines[2]) <= 1  # the user's net: Mahalanobis tells the held-out 9s apart
    assert lines[3] == "python"
    assert "dataset.name" in lines[4] and "digitz" in lines[4]
    frame = namespace["frame"]
    assert frame.attrs["title"]  # type: ignore[attr-defined]
    assert len(list((tmp_path / "runs").iterdir())) == 3  # quickstart, my_net, mine
    assert os.environ.get("TOOLKIT_CACHE")  # the suite's own cache, never the user's
