"""pytest configuration for the doctests of this package (tests/conftest.py holds the test suite's).

Most examples in the package's docstrings run in a core install. The few whose example needs an
optional extra are listed in :data:`DOCTEST_NEEDS` and skip, naming the extra, where it is not
installed (``nox -s extras`` runs the suite with one extra at a time), so they still run wherever
the extra is there.
"""

from __future__ import annotations

import importlib.util

import pytest
from _pytest.doctest import DoctestItem

#: Doctest (``module`` or ``module.object``, as pytest names it) -> (the extra, the modules its
#: example needs).
DOCTEST_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "toolkit.data.adult.load": ("fairness", ("pandas",)),
    "toolkit.testing.text": ("text", ("transformers", "tokenizers")),
    "toolkit.text.tokens": ("text", ("transformers", "tokenizers")),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark a listed doctest skipped where a module its example needs is not installed."""
    for item in items:
        if not isinstance(item, DoctestItem) or item.name not in DOCTEST_NEEDS:
            continue
        extra, modules = DOCTEST_NEEDS[item.name]
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            absent = ", ".join(missing)
            reason = (
                f"the example needs the {extra} extra ({absent} not installed): pip install -e '.[{extra}]'"
            )
            item.add_marker(pytest.mark.skip(reason=reason))
