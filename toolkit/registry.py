"""One registry per component kind, over Python entry-point groups.

The built-in components are declared as entry points in this project's own
``pyproject.toml``, exactly as a third-party package declares its own, so both take one
code path::

    [project.entry-points."toolkit.detectors"]
    msp = "toolkit.detectors.msp:MSP"

Discovery reads entry-point names and targets without importing anything. A component's
parameters (its typed keyword-only arguments) and its docstring are read from the source
file with :mod:`ast` (:mod:`toolkit.signature`), so ``toolkit list``, ``toolkit show`` and
``toolkit validate`` never import torch; the module itself is imported on first use. A
plugin that fails to import fails only when it is asked for, with its distribution,
version, target and the original error.

Example:
    >>> from toolkit.registry import registry
    >>> "msp" in registry("detectors").names()
    True
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from toolkit.errors import PluginLoadError, ToolkitWarning, UnknownComponentError, UsageError
from toolkit.kinds import KINDS, singular
from toolkit.signature import MISSING, Param, Signature, read_signature, signature_of

#: The distribution that provides the built-in components (the import package is ``toolkit``).
BUILTIN_DIST = "trustworthy-ml-toolkit"
#: What ``dist:name`` may also write for the built-ins (``toolkit:msp``), and the name this
#: distribution had before it was published: a stale install record under that name
#: registering the very same targets is the same code, not a second provider.
BUILTIN_ALIAS = "toolkit"

#: The public names. ``MISSING``, ``Param``, ``Signature`` and ``signature_of`` live in
#: :mod:`toolkit.signature` and stay importable from here.
__all__ = [
    "BUILTIN_ALIAS",
    "BUILTIN_DIST",
    "KINDS",
    "MISSING",
    "Entry",
    "Param",
    "Registry",
    "Signature",
    "import_problem",
    "kind_name",
    "refresh",
    "registry",
    "signature_of",
    "suggest",
]


def suggest(word: str, candidates: Sequence[str], n: int = 1) -> list[str]:
    """Close matches of ``word`` among ``candidates``: by similarity, else by shared prefix.

    Example:
        >>> suggest("lr_rate", ["epochs", "lr", "momentum"])
        ['lr']
    """
    close = difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)
    if close:
        return close
    stem = word.lower().split("_")[0]
    by_prefix = [
        c for c in candidates if c.lower().split("_")[0] == stem or word.lower().startswith(c.lower())
    ]
    return sorted(by_prefix, key=lambda c: -(_common_prefix(word.lower(), c.lower())))[:n]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def kind_name(kind: str) -> str:
    """Normalize a kind given by a user (``detector``, ``Detectors``) to its registry key."""
    key = kind.strip().lower()
    if key in KINDS:
        return key
    if key + "s" in KINDS:
        return key + "s"
    if key in ("data", "dataset"):
        return "datasets"
    close = suggest(key, list(KINDS))
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UsageError(f"unknown component kind '{kind}'.{hint} Kinds: {', '.join(KINDS)}.")


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One registered component: its name, where it lives and who provides it."""

    kind: str
    name: str
    target: str
    dist: str | None = None
    version: str | None = None

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def attr(self) -> str:
        return self.target.partition(":")[2]

    @property
    def provider(self) -> str:
        return f"{self.dist} {self.version}" if self.dist else "(unknown distribution)"

    @property
    def builtin(self) -> bool:
        """Whether the toolkit itself provides this component."""
        return self.dist is not None and _norm(self.dist) == _norm(BUILTIN_DIST)

    @property
    def qualified(self) -> str:
        """``dist:name``, the name that picks this entry whatever else is installed; the
        built-ins are ``toolkit:name``."""
        if self.builtin:
            return f"{BUILTIN_ALIAS}:{self.name}"
        return f"{self.dist}:{self.name}" if self.dist else self.name

    def code_id(self) -> str:
        """What identifies the component's code in fingerprints: a hash of the source of its
        module and of every module it imports from the toolkit or its own package
        (:func:`toolkit.codehash.code_hash`: an edit retrains), and for a plugin also its
        distribution and version (an upgrade retrains, even of a compiled or zipped plugin
        whose source cannot be read)."""
        return _code_id(self)

    def load(self) -> Any:
        """Import the component's module and return its factory (class or function)."""
        return _load(self)

    def signature(self) -> Signature:
        """The component's parameters and docstring, read without importing it if possible."""
        return _signature(self)


@cache
def _load(entry: Entry) -> Any:
    try:
        obj: Any = importlib.import_module(entry.module)
        for part in entry.attr.split(".") if entry.attr else []:
            obj = getattr(obj, part)
    except Exception as exc:
        raise PluginLoadError(
            f"{singular(entry.kind)} '{entry.name}' could not be loaded: "
            f"distribution {entry.provider}, target '{entry.target}': "
            f"{type(exc).__name__}: {exc}. Reinstall or fix that package, "
            f"or remove it from the recipe."
        ) from exc
    return obj


@cache
def _code_id(entry: Entry) -> str:
    from toolkit.codehash import code_hash

    if entry.dist is not None and not entry.builtin:
        return f"{entry.dist}=={entry.version}:{code_hash(entry.module)}"
    return code_hash(entry.module)


def import_problem(entry: Entry) -> str | None:
    """``None`` if the entry imports, else the reason (for ``toolkit list``)."""
    try:
        entry.load()
    except PluginLoadError as exc:
        cause = exc.__cause__
        return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
    return None


@cache
def _signature(entry: Entry) -> Signature:
    return read_signature(entry.module, entry.attr, entry.load)


class Registry:
    """The components of one kind, read from the entry-point group ``toolkit.<kind>``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind_name(kind)
        self.group = KINDS[self.kind].group

    def entries(self) -> list[Entry]:
        """Every registered entry, sorted by name; two distributions may share a name."""
        return list(_entries(self.group, self.kind))

    def names(self) -> list[str]:
        """The registered names, each once."""
        return sorted({e.name for e in self.entries()})

    def find(self, pattern: str = "*") -> list[Entry]:
        """Entries whose name matches a shell-style wildcard (``m*``, ``*energy*``)."""
        return [e for e in self.entries() if fnmatch.fnmatchcase(e.name, pattern)]

    def get(self, name: str) -> Entry:
        """The entry registered as ``name``, or ``dist:name`` to pick one distribution's."""
        dist, sep, short = name.rpartition(":")
        if not sep:
            short = name
        matches = [e for e in self.entries() if e.name == short]
        if sep:
            matches = [e for e in matches if e.dist and _norm(dist) in _dist_names(e)]
        if not matches:
            raise UnknownComponentError(self._unknown(name))
        builtin = [e for e in matches if e.builtin]
        if len(matches) > 1 and len(builtin) == 1:  # the toolkit's own name wins, with a warning
            others = [e for e in matches if not e.builtin]
            warnings.warn(
                f"{singular(self.kind)} '{short}' is also registered by "
                f"{', '.join(e.provider for e in others)}; using the toolkit's own. "
                f"Write '{others[0].dist}:{short}' to use the other one.",
                ToolkitWarning,
                stacklevel=2,
            )
            return builtin[0]
        if len(matches) > 1:
            claims = ", ".join(f"{e.provider} ({e.target})" for e in matches)
            picks = " or ".join(f"'{e.dist}:{short}'" for e in matches)
            raise UsageError(
                f"{singular(self.kind)} '{short}' is registered by more than one "
                f"distribution: {claims}. Name one of them as {picks}, "
                f"or uninstall one of the packages."
            )
        return matches[0]

    def load(self, name: str) -> Any:
        """Import and return the factory registered as ``name``."""
        return self.get(name).load()

    def clashes(self) -> dict[str, list[Entry]]:
        """Names registered by more than one distribution."""
        by_name: dict[str, list[Entry]] = {}
        for e in self.entries():
            by_name.setdefault(e.name, []).append(e)
        return {n: es for n, es in by_name.items() if len(es) > 1}

    def _unknown(self, name: str) -> str:
        names = self.names()
        close = suggest(name, names, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {singular(self.kind)} '{name}'.{hint} See them all with: toolkit list {self.kind}"


def _norm(dist: str) -> str:
    return dist.lower().replace("-", "_").replace(".", "_")


def _dist_names(entry: Entry) -> set[str]:
    """The normalized names that ``dist:name`` may use to pick ``entry``."""
    names = {_norm(entry.dist)} if entry.dist else set()
    return names | {BUILTIN_ALIAS} if entry.builtin else names


@cache
def _entries(group: str, kind: str) -> tuple[Entry, ...]:
    seen: set[tuple[str, str, str | None]] = set()
    out = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        key = (ep.name, ep.value, dist_name)
        if key in seen:
            continue
        seen.add(key)
        out.append(Entry(kind, ep.name, ep.value, dist_name, version))
    builtin = {(e.name, e.target) for e in out if e.builtin}
    out = [e for e in out if not (e.dist == BUILTIN_ALIAS and (e.name, e.target) in builtin)]
    return tuple(sorted(out, key=lambda e: (e.name, e.dist or "")))


def registry(kind: str) -> Registry:
    """The registry of one kind (``"detectors"``, ``"detector"`` and so on)."""
    return Registry(kind)


def refresh() -> None:
    """Forget what was read from the installed distributions (after installing a plugin)."""
    _entries.cache_clear()
    _signature.cache_clear()
    _load.cache_clear()
    _code_id.cache_clear()
    from toolkit.codehash import forget

    forget()
    importlib.invalidate_caches()
