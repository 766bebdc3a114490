"""Shared fixtures: an isolated cache, plugin distributions on sys.path, the CLI in a subprocess;
and :func:`needs`, which skips a test whose optional extra is not installed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from toolkit.registry import refresh, registry

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
EXAMPLE_PLUGIN = ROOT / "plugins" / "toolkit-plugin-example"

#: The optional libraries the tests import, by import name, and the extra of pyproject.toml that
#: installs each (markdown and yaml come with mkdocs). ``nox -s extras`` runs the suite with one
#: extra at a time: a test that needs another skips, naming it.
EXTRAS = {
    "pandas": "fairness",
    "fairlearn": "fairness",
    "pyarrow": "fairness",
    "torchattacks": "attacks",
    "art": "attacks",
    "captum": "explain",
    "shap": "explain",
    "lime": "explain",
    "transformers": "text",
    "sentencepiece": "text",
    "pytorch_ood": "ood",
    "timm": "vision",
    "ray": "distributed",
    "mlflow": "tracking",
    "mkdocs": "docs",
    "material": "docs",
    "markdown": "docs",
    "yaml": "docs",
    "torchmetrics": "dev",
}


def needs(*modules: str, what: str = "") -> ModuleType:
    """Skip the calling test (or, called at module level, the whole module) unless every one of
    ``modules`` imports; the reason names the extra to install, after ``what`` (the thing that
    needs it) if given. Returns the first module.

    Example: ``fairlearn = needs("fairlearn", "pandas")``.
    """
    __tracebackhide__ = True  # the skip is reported at the caller's line
    imported = []
    for module in modules:
        extra = EXTRAS.get(module.partition(".")[0])
        assert extra is not None, f"{module}: add its extra to conftest.EXTRAS"
        needs_it = f"{what}: needs" if what else "needs"
        reason = f"{needs_it} the {extra} extra ({module} is not installed): pip install -e '.[{extra}]'"
        imported.append(pytest.importorskip(module, reason=reason))
    return imported[0]


def needs_check_data(kind: str, name: str) -> None:
    """Skip the conformance check of component ``kind name`` where its check data needs an extra
    that is not installed: a model, explainer or defense that declares text is also checked on the
    tiny BERT of :mod:`toolkit.testing.text` (the text extra), and a defense with a training loop
    of its own on UCI Adult (the fairness extra)."""
    __tracebackhide__ = True
    factory = registry(kind).load(name)
    what = f"the conformance check of {kind} {name}"
    declared = getattr(factory, "modalities", None) or ()
    if kind in ("models", "explainers", "defenses") and "text" in declared:
        needs("transformers", what=f"{what} (on text data)")
    if kind == "defenses" and getattr(factory, "family", None) == "train":
        needs("pandas", what=f"{what} (a training defense, checked on UCI Adult)")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own artifact cache and data folder and runs in a temporary folder,
    with the console as wide as piped output gets (a COLUMNS of the caller's would wrap the
    messages and tables that tests read)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    yield
    refresh()


def write_dist(
    site: Path,
    name: str,
    version: str,
    entry_points: dict[str, dict[str, str]],
    modules: dict[str, str] | None = None,
) -> Path:
    """Make an installed distribution in ``site``: dist-info with entry points, plus module files."""
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
        lines.append("")
    (dist_info / "entry_points.txt").write_text("\n".join(lines))
    for rel, text in (modules or {}).items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return site


def example_plugin_site(site: Path) -> list[Path]:
    """The example plugin as an installed distribution: its dist-info built from its pyproject."""
    import tomllib

    project = tomllib.loads((EXAMPLE_PLUGIN / "pyproject.toml").read_text())["project"]
    write_dist(site, project["name"], project["version"], project["entry-points"])
    return [site, EXAMPLE_PLUGIN]


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A function that installs a distribution in this process: ``install_plugin(name,
    version, entry_points, modules)`` writes it under the test's folder (see
    :func:`write_dist`), puts it first on ``sys.path`` and refreshes the registries."""

    def install(
        name: str,
        version: str,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
    ) -> Path:
        site = write_dist(tmp_path / f"site-{name}-{version}", name, version, entry_points, modules)
        monkeypatch.syspath_prepend(str(site))
        refresh()
        return site

    return install


@pytest.fixture
def plugin_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The example plugin importable and registered in this process."""
    paths = example_plugin_site(tmp_path / "plugin-site")
    for p in paths:
        monkeypatch.syspath_prepend(str(p))
    refresh()
    return paths


def subprocess_env(extra_path: list[Path] | None = None) -> dict[str, str]:
    """The environment for a subprocess: this checkout first on ``sys.path``, whatever is installed."""
    environ = dict(os.environ)
    paths = [*map(str, extra_path or []), str(ROOT), environ.get("PYTHONPATH", "")]
    environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    environ["COLUMNS"] = "200"
    return environ


def run_cli(
    *args: str, extra_path: list[Path] | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m toolkit ARGS`` in a subprocess; returns the completed process."""
    environ = subprocess_env(extra_path)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, env=environ, timeout=timeout
    )


TINY_RECIPE = """\
task = "ood"
name = "tiny"
seed = 0

[dataset]
name = "synthetic"
holdout = ["c3"]
n_per_class = 60

[model]
name = "mlp"
hidden = [16]

[train]
epochs = 3
lr = 0.1
batch_size = 32

[[detectors]]
name = "msp"

[[detectors]]
name = "energy"
"""


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    """A recipe that runs in about a second."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE)
    return path


#: tests/plugin_kinds/ is a plugin package that tests/test_plugin_kinds.py installs on the fly;
#: it is not collected (its modules are imported only once it is registered).
collect_ignore = ["plugin_kinds"]


def cli_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``toolkit ARGS`` in this process: the exit status and everything it printed."""
    from toolkit.cli import main

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:  # pragma: no cover - main always exits
        code = 0
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        sys.unraisablehook = hook
    captured = capsys.readouterr()
    return code, captured.out + captured.err
