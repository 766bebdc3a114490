"""The documentation site: the generated reference covers every built-in component and recipe,
docstrings survive markdown verbatim, every page is in the navigation, and the strict build
passes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ROOT, needs, subprocess_env

from toolkit.kinds import KINDS
from toolkit.recipe import Recipe, RuntimeConfig, TrainConfig
from toolkit.registry import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return gen.pages(ROOT / "recipes")


def _section(page: str, heading: str) -> str:
    """The text of ``page`` from the ``## heading`` line to the next ``## `` heading."""
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end >= 0 else len(page)]


def _declared(kind: str) -> set[str]:
    """The built-in names of a kind as this project's pyproject.toml declares them."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["project"]["entry-points"][KINDS[kind].group])


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_builtin_component_and_parameter_is_in_its_page(kind: str, pages: dict[str, str]) -> None:
    page = pages[gen.page_path(kind)]
    entries = gen.builtin_entries(kind)
    assert {e.name for e in entries} == _declared(kind)
    for entry in entries:
        section = _section(page, entry.name)
        sig = entry.signature()
        for p in sig.params:
            default = "(required)" if p.required else gen.code(repr(p.default))
            row = f"| {gen.code(p.name)} | {gen.code(p.display_type)} | {default} |"
            assert row in section, f"{kind} {entry.name}: no row {row!r}"
        if not sig.params:
            assert "no parameters" in section
        assert ("also passes any other key through" in section) == sig.open
        assert sig.doc.strip() in section, f"{kind} {entry.name}: docstring missing or altered"


def test_the_index_links_every_builtin_component(pages: dict[str, str]) -> None:
    index = pages[f"{gen.REFERENCE}/index.md"]
    for kind in KINDS:
        for name in registry(kind).names():
            if name in _declared(kind):
                assert f"]({kind}.md#{name})" in index


def test_docstrings_are_rendered_verbatim_in_code_blocks(pages: dict[str, str]) -> None:
    markdown = needs("markdown")
    page = pages[gen.page_path("detectors")]
    html = markdown.markdown(page, extensions=["tables", "fenced_code"])
    # the energy detector's formula and doctest would become emphasis and a quote in prose
    assert "score = T * logsumexp(logits / T)" in html
    assert "&gt;&gt;&gt; import torch" in html
    assert "<em>" not in html and "<blockquote>" not in html


def test_markdown_helpers_keep_text_literal() -> None:
    assert gen.code("a`b") == "``a`b``"
    assert gen.code("`x`") == "`` `x` ``"
    assert gen.fence("```python\nx\n```").startswith("````text\n")
    assert gen.escape("a_b *c* [d] <e> | f") == "a\\_b \\*c\\* \\[d\\] &lt;e\\> \\| f"
    assert gen.inline("see ``x_y`` and :func:`f`") == "see `x_y` and `f`"


def _fields(model: Any) -> list[str]:
    return list(model.model_fields)


def test_the_recipe_page_has_the_schema_and_every_recipe(pages: dict[str, str]) -> None:
    page = pages[f"{gen.REFERENCE}/recipes.md"]
    for model in (Recipe, TrainConfig, RuntimeConfig):
        for name in _fields(model):
            assert f"| {gen.code(name)} |" in page, f"{model.__name__}.{name} missing from the schema"
    assert f"| {gen.code('lr')} | {gen.code('float (gt=0)')} | {gen.code('0.01')} | learning rate |" in page
    for kind in KINDS.values():
        if kind.section:
            assert f"[{kind.section}]" in page
    recipes = sorted((ROOT / "recipes").glob("*.toml"))
    assert recipes
    for path in recipes:
        text = path.read_text(encoding="utf-8")
        task = tomllib.loads(text)["task"]
        section = page[page.index(f"\n### {path.stem}\n") :]
        assert f"task {gen.code(task)}" in section.splitlines()[3]
        assert text.rstrip() in section


def _nav_files(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in _nav_files(value)]
    return [f for item in nav for f in _nav_files(item)]


def test_every_page_is_in_the_navigation(pages: dict[str, str]) -> None:
    yaml = needs("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = set(_nav_files(config["nav"]))
    written = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    missing = (set(pages) | written) - nav
    assert not missing, f"pages missing from the nav of mkdocs.yml: {sorted(missing)}"
    assert config["hooks"] == ["docs/gen_reference.py"]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    needs("mkdocs", "material")
    site = tmp_path / "site"
    env = subprocess_env()
    env["NO_MKDOCS_2_WARNING"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    for kind in KINDS:
        assert (site / gen.REFERENCE / kind / "index.html").is_file()
    detectors = (site / gen.REFERENCE / "detectors" / "index.html").read_text(encoding="utf-8")
    assert 'id="energy"' in detectors and "temperature" in detectors
    assert (site / gen.REFERENCE / "recipes" / "index.html").is_file()
    assert (site / "studies" / "index.html").is_file()
    assert not (site / "gen_reference.py").exists()
