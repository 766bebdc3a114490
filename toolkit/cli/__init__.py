"""The ``toolkit`` command: run, validate, audit, list, show, compare, track, sweep, report,
export, cache and recipes.

- :mod:`~toolkit.cli.base`: the app, the console and the table printer, which every
  command module imports (and nothing else of this package).
- :mod:`~toolkit.cli.entry`: :func:`main`, the console script: exit statuses (2 for bad
  usage, 1 for a failed run), ``--debug`` and signals.
- :mod:`~toolkit.cli.run`: ``run``, ``validate`` and ``track``.
- :mod:`~toolkit.cli.audit`: ``audit`` (exit status 3 when a check reaches ``--fail-on``).
- :mod:`~toolkit.cli.components`: ``list`` and ``show``.
- :mod:`~toolkit.cli.compare`: ``compare`` and ``report``.
- :mod:`~toolkit.cli.sweep`: ``sweep``.
- :mod:`~toolkit.cli.export`: ``export``.
- :mod:`~toolkit.cli.cache` and :mod:`~toolkit.cli.recipes`: the ``cache`` and ``recipes``
  groups.

This module registers the commands on the app, in the order ``toolkit --help`` lists them.
``--help``, ``list`` and ``show`` do not import torch; ``python -m toolkit`` and
``python -m toolkit.cli`` are the same as ``toolkit``.
"""

from __future__ import annotations

from toolkit.cli import audit, cache, compare, components, export, recipes, run, sweep
from toolkit.cli.base import app
from toolkit.cli.entry import main

__all__ = ["app", "main"]

app.command()(run.run)
app.command()(run.validate)
app.command()(audit.audit)
app.command("list")(components.list_)
app.command()(components.show)
app.command()(compare.compare)
app.command()(run.track)
app.command()(sweep.sweep)
app.command()(compare.report)
app.command()(export.export)
app.add_typer(cache.cache_app, name="cache")
app.add_typer(recipes.recipes_app, name="recipes")
