"""Studies: one recipe over a grid of overrides and seeds (``toolkit sweep``).

- :mod:`~toolkit.sweep.plan`: the points (grid product, zipped keys, seeds).
- :mod:`~toolkit.sweep.run`: run the points through an executor into a sweep folder, with
  resume.
- :mod:`~toolkit.sweep.summary`: ``summary.csv``, ``summary.json``, ``report.html`` and
  figures across the points (drawn by :mod:`~toolkit.sweep.figures`; the rows both share
  are in :mod:`~toolkit.sweep.rows`).

Importing this package imports neither torch nor the submodules.
"""
