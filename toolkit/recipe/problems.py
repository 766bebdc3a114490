"""Problem reporting: pydantic's validation errors as :class:`~toolkit.errors.Problem` s.

Each error becomes one problem with its key path (``train.lr_rate``) and a message in the
recipe's words: an unknown key with the closest known one (``did you mean train.lr?``) or
the keys known there, a missing key, or a bad value with what was given.

Example:
    >>> from pydantic import ValidationError
    >>> from toolkit.recipe.schema import TrainConfig
    >>> try:
    ...     TrainConfig.model_validate({"lr_rate": 0.1})
    ... except ValidationError as exc:
    ...     [str(p) for p in validation_problems(exc, prefix=("train",), known=lambda loc: ["epochs", "lr"])]
    ['train.lr_rate: unknown key, did you mean train.lr?']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from toolkit.errors import Problem
from toolkit.recipe.schema import SECTION_MODELS, top_level
from toolkit.registry import suggest


def known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys a recipe may have at ``loc`` (a key path below the top level), for suggestions."""
    if not loc:
        return list(top_level())
    model = SECTION_MODELS.get(str(loc[0]))
    return list(model.model_fields) if model else []


def validation_problems(
    exc: ValidationError,
    *,
    prefix: tuple[str, ...],
    known: Callable[[tuple[Any, ...]], list[str]],
    owner: str | None = None,
) -> list[Problem]:
    """One problem per error of ``exc``.

    Args:
        exc: pydantic's error.
        prefix: the key path of the validated table (``("detectors", "0")``).
        known: the keys known below a location of ``exc``, for an unknown key's suggestion.
        owner: what the table's keys are parameters of (``detector 'msp'``), if not the recipe's.
    """
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in (*prefix, *loc))
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = _unknown_key(loc, prefix, known(loc[:-1]), owner)
        elif kind == "missing":
            msg = "missing required key" + (f" of {owner}" if owner else "")
        else:
            got = err.get("input")
            shown = json.dumps(got, default=str) if not isinstance(got, Mapping) else "a table"
            text = str(err["msg"]).removeprefix("Value error, ")  # our own validators' words
            msg = f"{text} (got {shown})"
        out.append(Problem(path, msg))
    return out


def _unknown_key(
    loc: tuple[Any, ...], prefix: tuple[str, ...], candidates: list[str], owner: str | None
) -> str:
    key = str(loc[-1])
    close = suggest(key, candidates)
    parent = ".".join(str(p) for p in (*prefix, *loc[:-1]))
    if close:
        suggestion = f", did you mean {parent + '.' if parent else ''}{close[0]}?"
    elif candidates:
        suggestion = f"; known keys: {', '.join(candidates)}"
    else:
        suggestion = f"; {owner} takes no parameters" if owner else ""
    return f"unknown key{' for ' + owner if owner else ''}{suggestion}"
