"""A data set of this Python process, for :func:`toolkit.run` (``data=bundle``).

``toolkit.run(recipe, data=bundle)`` puts a :class:`~toolkit.data.base.DataBundle` (what
any dataset component returns) in this module's table under its data digest
(:func:`toolkit.data.digest.data_digest`), and the recipe's ``[dataset]`` becomes
``{name = "python", key = <digest>}``. A recipe file cannot reach it: a key not held in this
process is an error.
"""

from __future__ import annotations

from toolkit.data.base import DataBundle
from toolkit.errors import UsageError

__all__ = ["hold", "load"]

_BUNDLES: dict[str, DataBundle] = {}


def hold(bundle: DataBundle) -> str:
    """Keep ``bundle`` for a run in this process; returns its key (its data digest)."""
    from toolkit.data.digest import data_digest

    if not isinstance(bundle, DataBundle):
        raise UsageError(
            f"data= takes a toolkit.data.base.DataBundle (what a dataset component returns), "
            f"not {type(bundle).__name__}"
        )
    key = data_digest(bundle)
    _BUNDLES[key] = bundle
    return key


def load(seed: int, *, key: str) -> DataBundle:
    """The bundle held under ``key`` (the seed is the caller's: the bundle is split already).

    Args:
        seed: unused: the bundle's splits are made.
        key: what :func:`hold` returned.
    """
    if key not in _BUNDLES:
        raise UsageError(
            "dataset python: no data set is held under this key in this process; a DataBundle comes "
            "only through toolkit.run(recipe, data=...)"
        )
    return _BUNDLES[key]
