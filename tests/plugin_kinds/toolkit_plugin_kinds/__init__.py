"""A test plugin with a component of every kind, written against the public contracts only
(:mod:`toolkit.protocols`, :mod:`toolkit.data.base`, :mod:`toolkit.data.inputs`,
:mod:`toolkit.results`, :mod:`toolkit.outputs`).

``tests/test_plugin_kinds.py`` installs it as the distribution ``toolkit-plugin-kinds``
(entry points in ``tests/plugin_kinds/pyproject.toml``) and runs the conformance checks and
recipes over it. Its token data and bag-of-tokens model are a multi-tensor pair: the inputs
are ``{"tokens": (N, L) int64, "mask": (N, L) int64}``.
"""
