"""What identifies a component's code in fingerprints: its module and everything it imports.

A component's behaviour lives in its own module and in the modules it imports (a model's
base class, the attack a defense builds, the input helpers). :func:`code_hash` hashes the
source of the component's module and, transitively, of every module it imports from the
toolkit or from its own top-level package (imports needed only for type checking are
skipped), so editing any of them changes the fingerprints that depend on the component.
Imports are read from the source with :mod:`ast`; nothing is executed.

Example:
    >>> "toolkit.models.base" in closure("toolkit.models.mlp")
    True
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import cache


@cache
def module_file(module: str) -> str | None:
    """The source file of ``module`` (``None`` if it has none or cannot be found)."""
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # a parent package that fails to import, or not a module at all
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin


@cache
def _is_package(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(module)
    except Exception:
        return False
    return spec is not None and spec.submodule_search_locations is not None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports(module: str, roots: tuple[str, ...] = ("toolkit",)) -> tuple[str, ...]:
    """The modules of the top-level packages ``roots`` that ``module`` imports at run time
    (anywhere in its source), as absolute names."""
    path = module_file(module)
    if path is None:
        return ()
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}".rstrip(".") if base else parent
            found.add(base)
            if base.split(".")[0] in roots and _is_package(base):
                found.update(f"{base}.{alias.name}" for alias in node.names)
        stack.extend(ast.iter_child_nodes(node))
    return tuple(sorted(name for name in found if name.split(".")[0] in roots))


def closure(module: str) -> list[str]:
    """``module`` and the modules it imports, transitively, within the toolkit and within
    its own top-level package; only those with a source file."""
    roots = tuple(sorted({"toolkit", module.split(".")[0]}))
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        todo.extend(imports(name, roots))
    return sorted(seen)


def code_hash(module: str) -> str:
    """sha256 over the sources of :func:`closure` of ``module`` (``unknown`` without source)."""
    digest = hashlib.sha256()
    names = closure(module)
    if not names:
        return "unknown"
    for name in names:
        path = module_file(name)
        assert path is not None
        with open(path, "rb") as fh:
            digest.update(f"{name}\0".encode() + hashlib.sha256(fh.read()).digest())
    return digest.hexdigest()


def forget() -> None:
    """Forget the imports and module locations read so far (after files changed)."""
    imports.cache_clear()
    module_file.cache_clear()
    _is_package.cache_clear()
