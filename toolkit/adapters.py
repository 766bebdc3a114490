"""What the adapters to other libraries share: finding a class of that library by name."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Collection
from typing import Any

from toolkit.errors import UsageError


def class_by_name(
    module: str,
    name: str,
    *,
    what: str,
    install: str,
    exclude: Collection[str] = (),
    keep: Callable[[Any], bool] | None = None,
) -> Any:
    """The public class ``name`` of ``module``; an unknown name lists the available ones.

    Args:
        module: the library's module, e.g. ``"torchattacks"``.
        name: the class name a recipe gave.
        what: how messages call such a class, e.g. ``"torchattacks has no attack"``.
        install: the component and extra for the missing-library message, e.g.
            ``"attack torchattacks needs torchattacks: pip install 'trustworthy-ml-toolkit[attacks]'"``.
        exclude: public classes that are not usable on their own (base classes).
        keep: a further filter on the candidate classes.
    """
    try:
        lib = importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(install) from exc
    available = sorted(
        n
        for n in dir(lib)
        if not n.startswith("_")
        and n not in exclude
        and inspect.isclass(getattr(lib, n))
        and (keep is None or keep(getattr(lib, n)))
    )
    if name not in available:
        raise UsageError(f"{what} '{name}'; available: {', '.join(available)}")
    return getattr(lib, name)
