"""The generated reference pages of the documentation site: components and shipped recipes.

mkdocs runs this file as a hook (``hooks:`` in ``mkdocs.yml``). On every build it adds, in
memory, one page per component kind under ``reference/`` (every built-in component with
the parameters, types, defaults and docstring that ``toolkit show KIND NAME`` prints) and
``reference/recipes.md`` (the schema of a recipe's top-level keys, read from the pydantic
models, and every recipe in ``recipes/``). Because the pages are rebuilt from the
registries and the recipe files each time, the reference cannot drift from the code, and
nothing generated is committed.

To look at the pages without mkdocs::

    python docs/gen_reference.py /tmp/reference
"""

from __future__ import annotations

import re
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from toolkit.kinds import KINDS
from toolkit.recipe import Recipe
from toolkit.registry import Entry, registry

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: The folder of the generated pages inside the site.
REFERENCE = "reference"
#: The repository root (this file lives in ``docs/``).
ROOT = Path(__file__).resolve().parent.parent

_MD_SPECIAL = re.compile(r"([\\`*_\[\]>|#])")
_RST_CODE = re.compile(r"(?::[a-z]+:)?``?([^`]+)``?")
_PYDANTIC_CONSTRAINTS = ("gt", "ge", "lt", "le", "min_length", "max_length", "multiple_of", "pattern")


# --------------------------------------------------------------------------- markdown helpers


def escape(text: str) -> str:
    """``text`` as literal markdown inline text: no emphasis, links, HTML or table cells."""
    text = re.sub(r"\s+", " ", text).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def inline(text: str) -> str:
    """A docstring's sentence as markdown: ``literals`` and :func:`roles` as code, the rest escaped."""
    out, last = [], 0
    for match in _RST_CODE.finditer(text):
        out += [escape(text[last : match.start()]), code(match[1])]
        last = match.end()
    return "".join([*out, escape(text[last:])]).strip()


def code(text: str) -> str:
    """``text`` as an inline code span, whatever backticks it holds (table-safe in mkdocs)."""
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, lang: str = "text") -> str:
    """``text`` verbatim in a fenced code block longer than any fence inside it.

    Docstrings hold formulas (``*``, ``_``, ``|``) and doctest examples (``>>>``) that
    markdown would otherwise turn into emphasis, quotes and tables.
    """
    longest = max((len(run) for run in re.findall(r"^\s*(`{3,})", text, flags=re.M)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}\n"


def summary(doc: str) -> str:
    """The first paragraph of a docstring on one line (the index's short description)."""
    return " ".join(doc.strip().split("\n\n")[0].split())


# --------------------------------------------------------------------------- components


def builtin_entries(kind: str) -> list[Entry]:
    """The components of ``kind`` that the toolkit itself provides, sorted by name."""
    return [e for e in registry(kind).entries() if e.builtin]


def page_path(kind: str) -> str:
    """Where the page of ``kind`` lives in the site (``reference/detectors.md``)."""
    return f"{REFERENCE}/{kind}.md"


def how_written(kind: str) -> str:
    """One sentence on how a recipe names a component of ``kind``."""
    spec = KINDS[kind]
    if spec.section is None:
        return (
            f"A recipe names its {spec.singular} with the top-level key {code('task = NAME')}; "
            f"the {spec.singular}'s parameters go in the {code('[evaluate]')} table."
        )
    table = f"[[{spec.section}]]" if spec.many else f"[{spec.section}]"
    many = "one table per component, " if spec.many else ""
    return (
        f"A recipe names a {spec.singular} in {code(table)} ({many}{code('name = NAME')} "
        f"plus the parameters below)."
    )


def component_section(entry: Entry) -> str:
    """One component as ``toolkit show`` prints it: parameters, type, default, docstring."""
    sig = entry.signature()
    lines = [f"## {entry.name}", "", f"{code(entry.target)}", ""]
    if sig.params:
        lines += ["| parameter | type | default |", "| --- | --- | --- |"]
        for p in sig.params:
            default = "(required)" if p.required else code(repr(p.default))
            lines.append(f"| {code(p.name)} | {code(p.display_type)} | {default} |")
    else:
        lines.append("no parameters")
    if sig.open:
        lines += ["", "also passes any other key through to the component"]
    if sig.doc:
        lines += ["", fence(sig.doc)]
    return "\n".join(lines).rstrip() + "\n"


def kind_page(kind: str) -> str:
    """The reference page of one kind: every built-in component of it, one section each."""
    entries = builtin_entries(kind)
    head = [
        f"# {kind.capitalize()}",
        "",
        f"The built-in {kind}, generated from the registry: the same parameters, types, defaults",
        f"and documentation as {code(f'toolkit show {kind} NAME')}. {how_written(kind)}",
        f"{code(f'toolkit list {kind}')} also shows the {kind} that installed plugins add.",
        "",
        "",
    ]
    return "\n".join(head) + "\n".join(component_section(e) for e in entries)


def index_page() -> str:
    """The overview of the reference: each kind with its components and their one-line summaries."""
    lines = [
        "# Reference",
        "",
        "Generated on every build of this site from the component registries and the files in",
        f"{code('recipes/')}, so it always matches the code. {code('toolkit show KIND NAME')} prints",
        "the same for any component, plugins included.",
        "",
        "- [Shipped recipes and the recipe schema](recipes.md)",
        "",
    ]
    for kind in KINDS:
        lines += [f"## [{kind.capitalize()}]({kind}.md)", "", "| name | summary |", "| --- | --- |"]
        for entry in builtin_entries(kind):
            text = inline(summary(entry.signature().doc)) or "(no documentation)"
            lines.append(f"| [{code(entry.name)}]({kind}.md#{entry.name}) | {text} |")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- recipes


def type_text(tp: Any) -> str:
    """A pydantic field's annotation as a reader writes it: ``list[str]``, ``int | None``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "None"
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        return " | ".join(type_text(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_text(a) for a in args)}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "table"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def table_model(tp: Any) -> type[BaseModel] | None:
    """The pydantic model of a sub-table (``[train]``), also inside ``X | None``; else ``None``."""
    for candidate in (tp, *typing.get_args(tp)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def constraints(field: Any) -> list[str]:
    """A pydantic field's bounds and pattern, as ``ge=0``."""
    out = []
    for item in field.metadata:
        for name in _PYDANTIC_CONSTRAINTS:
            value = getattr(item, name, None)
            if value is not None:
                out.append(f"{name}={value!r}" if name == "pattern" else f"{name}={value}")
    return out


def default_text(field: Any) -> str:
    """A pydantic field's default as ``toolkit show`` writes one, or ``(required)``."""
    if field.is_required():
        return "(required)"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "its keys' defaults"
    return code(repr(value))


def schema_table(model: type[BaseModel]) -> list[str]:
    """One row per field of ``model``: key, type (with bounds), default, description."""
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        bounds = constraints(field)
        shown = type_text(field.annotation) + (f" ({', '.join(bounds)})" if bounds else "")
        nested = table_model(field.annotation)
        description = inline(field.description or "")
        if nested is not None:
            description = f"see [{code(f'[{name}]')}](#{name}) below"
        lines.append(f"| {code(name)} | {code(shown)} | {default_text(field)} | {description} |")
    return lines


def schema_section() -> str:
    """The keys a recipe's top level accepts, its component sections and its sub-tables' keys."""
    lines = ["## The recipe schema", "", "### Top-level keys", "", *schema_table(Recipe), ""]
    lines += ["### Component sections", "", "| section | holds | required | components |"]
    lines.append("| --- | --- | --- | --- |")
    for kind, spec in KINDS.items():
        if spec.section is None:
            continue
        table = f"[[{spec.section}]]" if spec.many else f"[{spec.section}]"
        holds = f"a list of {spec.singular} tables" if spec.many else f"one {spec.singular} table"
        required = "yes" if spec.required else "no"
        lines.append(f"| {code(table)} | {holds} | {required} | [{kind}]({kind}.md) |")
    lines += ["", f"The task's parameters go in {code('[evaluate]')}: see [tasks](tasks.md).", ""]
    for name, field in Recipe.model_fields.items():
        model = table_model(field.annotation)
        if model is not None:
            doc = inline(summary(model.__doc__ or ""))
            lines += [f"### \\[{name}\\]", "", doc, "", *schema_table(model), ""]
    return "\n".join(lines)


def recipe_section(path: Path) -> str:
    """One shipped recipe: its name, task and description, and the file itself."""
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines = [
        f"### {path.stem}",
        "",
        f"{code(f'recipes/{path.name}')}: task {code(str(data.get('task', '?')))}, "
        f"run name {code(str(data.get('name', '?')))}",
        "",
    ]
    if data.get("description"):
        lines += [inline(str(data["description"])), ""]
    lines.append(fence(text, "toml"))
    return "\n".join(lines)


def recipes_page(folder: Path) -> str:
    """The recipe reference: the schema, then every ``*.toml`` of ``folder``."""
    paths = sorted(folder.glob("*.toml"))
    lines = [
        "# Recipes: schema and shipped recipes",
        "",
        "Generated from the pydantic models of a recipe and from the files in "
        f"{code('recipes/')}. [The recipe guide](../recipes.md) explains every key in prose.",
        "",
        schema_section(),
        "## Shipped recipes",
        "",
        f"{len(paths)} recipes, each runnable as shipped with {code('toolkit run recipes/FILE')}.",
        "",
        "",
    ]
    return "\n".join(lines) + "\n".join(recipe_section(p) for p in paths)


def pages(recipes: Path = ROOT / "recipes") -> dict[str, str]:
    """Every generated page, by its path in the site (``reference/detectors.md``)."""
    out = {f"{REFERENCE}/index.md": index_page(), f"{REFERENCE}/recipes.md": recipes_page(recipes)}
    out.update({page_path(kind): kind_page(kind) for kind in KINDS})
    return out


# --------------------------------------------------------------------------- mkdocs hook


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """mkdocs hook: add the generated pages to the site (in memory; replaces files of the same path)."""
    from mkdocs.structure.files import File

    root = Path(config["config_file_path"]).resolve().parent
    for src_uri, content in pages(root / "recipes").items():
        existing = files.get_file_from_path(src_uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, src_uri, content=content))
    return files


def main(argv: list[str]) -> int:
    """Write the generated pages under the folder given as the one argument."""
    if len(argv) != 1:
        print("usage: python docs/gen_reference.py OUT_FOLDER", file=sys.stderr)
        return 2
    out = Path(argv[0])
    generated = pages()
    for src_uri, content in generated.items():
        target = out / src_uri
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    print(f"wrote {len(generated)} pages under {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
