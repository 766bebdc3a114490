"""The exceptions and warnings of the toolkit.

Every error a user can cause carries one readable message that says what is wrong and
what to do. The CLI prints that message without a traceback and exits with the error's
``exit_code``: 2 for bad usage (recipe, parameter, data file, plugin), 1 for a run that
failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ToolkitWarning(UserWarning):
    """A warning issued by the toolkit itself (tests turn these into errors)."""


class ToolkitDeprecationWarning(ToolkitWarning, DeprecationWarning):
    """Something a plugin does that still works but will not: the message says what to write instead."""


class ToolkitError(Exception):
    """Base class of the toolkit's errors; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(ToolkitError):
    """The user asked for something that cannot work: fix the input and try again."""

    exit_code = 2


class UnknownComponentError(UsageError):
    """A component name that no installed distribution registers."""


class PluginLoadError(UsageError):
    """A registered component whose module or object could not be loaded."""


class DataError(UsageError):
    """A data set that is missing, unreadable or asked for with impossible settings."""


class NotFittedError(RuntimeError):
    """A component used before it was fitted (a detector scored before ``fit``)."""

    def __init__(self, component: object, method: str = "fit") -> None:
        name = type(component).__name__
        super().__init__(f"{name} is not fitted yet: call {method}() before using it")


def require_fitted(component: object, *attributes: str) -> None:
    """Raise :class:`NotFittedError` unless every named attribute of ``component`` is set."""
    if any(getattr(component, a, None) is None for a in attributes):
        raise NotFittedError(component)


def fitted(component: object, attribute: str) -> Any:
    """The fitted attribute ``attribute`` of ``component``; :class:`NotFittedError` if unset."""
    require_fitted(component, attribute)
    return getattr(component, attribute)


class Terminated(BaseException):
    """The process received SIGTERM: raised where it was, so a run cleans up as for Ctrl-C.

    A ``BaseException`` (like ``KeyboardInterrupt``), so no ``except Exception`` swallows it.
    """

    exit_code = 143


class RunError(ToolkitError):
    """A run that started and then failed."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One problem in a recipe: where it is (a dotted key path) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RecipeError(UsageError):
    """A recipe with one or more problems, all reported at once."""

    def __init__(self, problems: list[Problem], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}{where}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))
