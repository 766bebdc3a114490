"""The ready recipes that ship with the package: where they are, what each is, copying them.

A wheel carries ``recipes/*.toml`` as ``toolkit/recipes/`` (see ``pyproject.toml``), so a user
who installed from PyPI or a wheel has them without the source checkout; an editable
install reads the checkout's ``recipes/`` next to the package. Nothing here imports torch.

Example:
    >>> "quickstart" in recipe_names()
    True
    >>> recipe_path("quickstart.toml").name
    'quickstart.toml'
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath

from toolkit.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_PACKAGE = Path(__file__).resolve().parent
#: Where a wheel puts the recipes: inside the installed package.
INSTALLED = _PACKAGE / "recipes"
#: Where an editable install (a source checkout) has them: beside the package.
CHECKOUT = _PACKAGE.parent / "recipes"


def recipes_dir() -> Path:
    """The folder of the packaged recipes: the installed ``toolkit/recipes``, else the source
    checkout's ``recipes/``; a usage error when neither is there (a broken install)."""
    for folder in (INSTALLED, CHECKOUT):
        if folder.is_dir() and any(folder.glob("*.toml")):
            return folder
    raise UsageError(
        f"no packaged recipes at {INSTALLED} or {CHECKOUT}: the installation is incomplete; "
        "reinstall with: pip install --force-reinstall trustworthy-ml-toolkit"
    )


def recipe_names() -> list[str]:
    """The names of the packaged recipes (file names without ``.toml``), sorted."""
    return sorted(p.stem for p in recipes_dir().glob("*.toml"))


def recipe_path(name: str) -> Path:
    """The file of the packaged recipe ``name`` (``quickstart`` or ``quickstart.toml``);
    an unknown name is a usage error listing the close matches."""
    from toolkit.registry import suggest

    stem = name.removesuffix(".toml")
    path = recipes_dir() / f"{stem}.toml"
    if PurePath(stem).name == stem and path.is_file():
        return path
    close = suggest(stem, recipe_names(), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UsageError(f"unknown recipe '{name}'.{hint} See them all with: toolkit recipes ls")


def find_recipe(path: str | Path) -> Path:
    """What ``toolkit run``/``validate`` read for ``path``: the file itself when it exists,
    else the packaged recipe of that name (``quickstart``, ``quickstart.toml``), else
    ``path`` unchanged (reading it then reports the missing file)."""
    given = Path(path)
    if given.exists() or given.parent != Path("."):
        return given
    stem = given.name.removesuffix(".toml")
    try:
        packaged = recipes_dir() / f"{stem}.toml"
    except UsageError:
        return given
    return packaged if stem and packaged.is_file() else given


@dataclass(frozen=True)
class RecipeInfo:
    """One packaged recipe as ``toolkit recipes ls`` shows it."""

    name: str
    task: str
    description: str
    path: Path


def describe(path: Path) -> RecipeInfo:
    """The name, task and one-line description of the recipe file ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return RecipeInfo(path.stem, "?", f"(unreadable: {exc})", path)
    lines = str(data.get("description", "")).strip().splitlines()
    return RecipeInfo(path.stem, str(data.get("task", "?")), lines[0] if lines else "", path)


def partners(path: Path) -> list[Path]:
    """The recipes that ``path`` needs beside it: the one its ``[train] init_from`` names
    (a path relative to the recipe's folder), that one's own, and so on; only files in the
    folder of ``path`` or below it, since a copy keeps their relative paths."""
    base = path.resolve().parent
    out: list[Path] = []
    current = path
    while True:
        try:
            data = tomllib.loads(current.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return out
        init = data.get("train", {}).get("init_from") if isinstance(data.get("train"), dict) else None
        if not isinstance(init, str):
            return out
        current = (current.parent / init).resolve()
        if current in out or current == path.resolve() or not current.is_file():
            return out
        if not current.is_relative_to(base):
            return out
        out.append(current)


def copy_recipe(name: str, dest: Path = Path("."), *, force: bool = False) -> list[Path]:
    """Copy the packaged recipe ``name`` and its :func:`partners` to ``dest`` (a folder, or a
    file name for the recipe itself); returns the files written.

    Nothing is written when any target exists and ``force`` is false, so a refused copy
    leaves no half of a recipe and its partner behind.
    """
    source = recipe_path(name)
    if dest.is_dir() or dest.suffix != ".toml":
        folder, own = dest, dest / source.name
    else:
        folder, own = dest.parent, dest
    targets = [(source, own)]
    for partner in partners(source):
        targets.append((partner, folder / partner.relative_to(source.resolve().parent)))
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder: name a folder or a .toml file name")
    links = [str(target) for _, target in targets if target.is_symlink()]
    if links:  # a link may point anywhere: never write through one, even with --force
        raise UsageError(
            f"{', '.join(links)}: a symbolic link is in the way; remove it or name another destination"
        )
    folders = [str(target) for _, target in targets if target.is_dir()]
    if folders:
        raise UsageError(f"{', '.join(folders)}: a folder is in the way; name another destination")
    existing = [str(target) for _, target in targets if target.exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: "
            "copy to another folder, or pass --force to overwrite"
        )
    try:
        for src, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    except OSError as exc:
        raise UsageError(
            f"{dest}: cannot copy the recipe there ({exc.strerror or exc}); name another destination"
        ) from exc
    return [target for _, target in targets]
