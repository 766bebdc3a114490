"""Parameter types of recipes: numbers that may be written as strings such as ``"8/255"``.

A leaf module (it imports nothing of the toolkit), so the registry, the recipe schema and
every component can share these types without import cycles.

Example:
    >>> to_number("8/255") == 8 / 255, to_number("1e-3"), to_number("frog")
    (True, 0.001, 'frog')
"""

from __future__ import annotations

import types
import typing
from fractions import Fraction
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field


def to_number(value: Any) -> Any:
    """Accept numeric strings such as ``"8/255"`` or ``"1e-3"`` where a float is expected."""
    if isinstance(value, str):
        text = value.replace(" ", "").replace("_", "")
        try:
            return float(Fraction(text))
        except (ValueError, ZeroDivisionError):
            return value
    return value


#: A finite float that may also be written as a numeric string such as ``"8/255"``
#: (``inf`` and ``nan`` are refused: a recipe never needs them, and ``lr = inf`` trains to NaN).
FloatLike = Annotated[float, BeforeValidator(to_number), Field(allow_inf_nan=False)]


def lenient(tp: Any) -> Any:
    """Replace ``float`` anywhere inside a type with :data:`FloatLike`."""
    if tp is float:
        return FloatLike
    origin = typing.get_origin(tp)
    if origin is Annotated:
        inner, *meta = typing.get_args(tp)
        return Annotated[(lenient(inner), *meta)]
    if origin is None or origin is Literal:
        return tp
    args = typing.get_args(tp)
    new_args = tuple(a if a is Ellipsis else lenient(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[new_args]  # noqa: UP007 - rebuilt from a runtime tuple
    try:
        return origin[new_args]
    except TypeError:
        return tp
