"""The toolkit from Python: :func:`run` a recipe on your own model object, :func:`load_run` a
finished run, and look at either as a :class:`Run` (a notebook shows it inline).

Example:
    >>> import toolkit
    >>> result = toolkit.run("quickstart", overrides=["train.epochs=1"], out_dir=tmp)  # doctest: +SKIP
    >>> result.metrics["accuracy"] > 0.5                                               # doctest: +SKIP
    True

Errors are the exceptions the ``toolkit`` command turns into exit statuses
(:class:`~toolkit.errors.UsageError` and its kinds for bad input, 2;
:class:`~toolkit.errors.RunError` for a failed run, 1), importable from ``toolkit``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from toolkit.data.base import DataBundle
    from toolkit.results import Table

__all__ = ["Run", "load_run", "run"]


@dataclass
class Run:
    """A finished run, read from its folder.

    Args:
        path: the run folder.
        metrics: ``metrics.json``.
        meta: ``meta.json`` (versions, fingerprints, timings, device).
        recipe: the resolved recipe (``recipe.toml``) as a dict.
        results: the result tables, as the report shows them.
        figures: each figure's PNG file, by name.
    """

    path: Path
    metrics: dict[str, Any]
    meta: dict[str, Any]
    recipe: dict[str, Any]
    results: list[Table] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)

    @property
    def tables(self) -> list[Any]:
        """The result tables as pandas DataFrames (their titles in ``DataFrame.attrs``)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - the core install has no pandas
            from toolkit.errors import UsageError

            raise UsageError("Run.tables needs pandas: pip install pandas (or use Run.results)") from exc
        frames = []
        for table in self.results:
            frame = pd.DataFrame(table.rows, columns=table.columns)
            frame.attrs["title"] = table.title
            frames.append(frame)
        return frames

    def _repr_html_(self) -> str:
        """The run as a notebook shows it: its name, folder, tables and figures."""
        title = html.escape(f"{self.meta.get('name', self.path.parent.name)}: {self.meta.get('task', '')}")
        parts = [f"<h3>{title}</h3>", f"<p><code>{html.escape(str(self.path))}</code></p>"]
        for table in self.results:
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                for row in table.rows
            )
            parts.append(f"<p><b>{html.escape(table.title)}</b></p><table><tr>{head}</tr>{rows}</table>")
        for name, png in list(self.figures.items())[:6]:
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(
                f'<p>{html.escape(name)}</p><img src="data:image/png;base64,{data}" style="max-width:640px">'
            )
        return "\n".join(parts)


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def load_run(folder: str | Path) -> Run:
    """A finished run folder as a :class:`Run`.

    Raises:
        UsageError: the folder is not a finished run folder, or a file in it is not what
            ``toolkit run`` wrote (the message names it).
    """
    from toolkit.execution.runread import load_run as stored_run
    from toolkit.execution.runread import read_tables

    stored = stored_run(Path(folder))
    figures = {p.stem: p for p in sorted((stored.folder / "figures").glob("*.png")) if not p.is_symlink()}
    return Run(stored.folder, stored.metrics, stored.meta, stored.recipe, read_tables(stored.folder), figures)


def _recipe_table(recipe: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The recipe as a table of plain values (a copy of a dict, or a file or packaged recipe
    read) and its source file (``None`` for a dict)."""
    from toolkit.packaged import find_recipe
    from toolkit.recipe import read_toml

    if isinstance(recipe, Mapping):
        return json.loads(json.dumps(dict(recipe), default=str)), None
    path = find_recipe(recipe)
    return read_toml(path), str(path)


def _replace_sections(
    table: dict[str, Any], model: Any, data: Any, overrides: list[str], declared: dict[str, Any]
) -> None:
    """Put the caller's model object and data in the recipe ``table`` (its ``[model]`` and
    ``[dataset]``), held in this process under their digests; the model's declarations go
    with it, and are a usage error without one."""
    from toolkit.errors import UsageError

    if model is not None:
        from toolkit.models.in_memory import hold

        given = {k: v for k, v in declared.items() if v is not None}
        table["model"] = {"name": "python", "key": hold(model), **given}
    elif any(v is not None for v in declared.values()):
        raise UsageError(
            "mean, std, class_names, head and input_size describe a model object: give it with model="
        )
    if data is not None:
        from toolkit.data.in_memory import hold as hold_data

        table["dataset"] = {"name": "python", "key": hold_data(_bundle(data, table, overrides))}


def _bundle(data: Any, table: dict[str, Any], overrides: list[str]) -> Any:
    """``data`` as a :class:`~toolkit.data.base.DataBundle`: as it is; four arrays
    ``(x_train, y_train, x_test, y_test)`` (:mod:`toolkit.data.arrays`); or a pandas
    DataFrame, prepared as the recipe's ``table`` dataset says (its ``label``,
    ``sensitive``... without ``path``), with the recipe's seed."""
    from toolkit.data.base import DataBundle
    from toolkit.errors import UsageError

    if isinstance(data, DataBundle):
        return data
    if isinstance(data, tuple | list) and len(data) == 4:
        from toolkit.data.arrays import bundle

        return bundle(*data)
    if type(data).__name__ == "DataFrame":
        from toolkit.data.table import prepare
        from toolkit.recipe import apply_overrides

        settled = json.loads(json.dumps(table, default=str))
        problems = apply_overrides(settled, overrides)
        if problems:
            from toolkit.errors import RecipeError

            raise RecipeError(problems)
        params = {
            k: v
            for k, v in dict(settled.get("dataset") or {}).items()
            if k not in ("name", "path", "test_path")
        }
        if "label" not in params:
            raise UsageError(
                "data=DataFrame needs the recipe's dataset table to say how to read it, as the table dataset "
                'does: dataset = {name = "table", label = "...", sensitive = {...}, ...} (no path)'
            )
        return prepare(int(settled.get("seed", 0)), data, source="the DataFrame", **params)
    raise UsageError(
        "data= takes a toolkit.data.base.DataBundle (what a dataset component returns), four arrays "
        f"(x_train, y_train, x_test, y_test) or a pandas DataFrame, not {type(data).__name__}"
    )


def run(
    recipe: str | Path | Mapping[str, Any],
    *,
    model: nn.Module | None = None,
    data: DataBundle | tuple[Any, Any, Any, Any] | Any | None = None,
    overrides: Iterable[str] = (),
    out_dir: str | Path = "runs",
    cache: bool = True,
    quiet: bool = True,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
    head: str | None = None,
    input_size: list[int] | None = None,
) -> Run:
    """Run a recipe, on your own model object and data if given; returns the finished run.

    Args:
        recipe: a recipe file, a packaged recipe's name (``"quickstart"``), or a dict with a
            recipe's tables.
        model: any ``nn.Module``: it replaces the recipe's ``[model]`` and, without a
            ``[train]`` table, is evaluated as given (the run works on a copy).
        data: it replaces the recipe's ``[dataset]``: a :class:`~toolkit.data.base.DataBundle`
            (what a dataset component returns); four arrays or tensors ``(x_train, y_train,
            x_test, y_test)`` (:mod:`toolkit.data.arrays`); or a pandas DataFrame, prepared as
            the recipe's ``table`` dataset table says (``label``, ``sensitive``..., no ``path``).
        overrides: ``key=value`` overrides, as ``--set`` writes them.
        out_dir: the parent of the run folders (default ``runs``).
        cache: read and write trained models in the artifact cache.
        quiet: no console output (``False``: the progress and tables ``toolkit run`` prints).
        mean: with ``model``: the normalization it expects (it receives ``[0, 1]`` pixels
            otherwise); with ``std``.
        std: the standard deviations, with ``mean``.
        class_names: with ``model``: its classes in output order (checked against the data's).
        head: with ``model``: the module whose input is the penultimate features.
        input_size: with ``model``: the shape of one input it was trained on (checked).

    Raises:
        RecipeError: the recipe is invalid (every problem listed).
        UsageError: a data or model problem.
        RunError: the run failed.
    """
    from toolkit.execution.runner import run as run_recipe
    from toolkit.recipe import parse_recipe

    table, source = _recipe_table(recipe)
    declared = {"mean": mean, "std": std, "class_names": class_names, "head": head, "input_size": input_size}
    _replace_sections(table, model, data, list(overrides), declared)
    resolved = parse_recipe(table, list(overrides), source=source)
    console = None
    if not quiet:
        from toolkit.cli.base import get_console

        console = get_console()
    result = run_recipe(resolved, out_dir=out_dir, use_cache=cache, console=console)
    return load_run(result.path)
