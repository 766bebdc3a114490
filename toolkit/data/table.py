"""Your own tabular data: a CSV or Parquet file with a label column and group columns.

Read with pandas, then prepared as the ``adult`` dataset prepares UCI Adult, so a table
that holds Adult gives the ``adult`` dataset's tensors, split and groups:

1. The label column: with ``favourable`` given, that value is class 1 and every other
   value class 0 (a binary task, as fairness needs); without it, the sorted distinct
   values are the classes.
2. Each ``sensitive`` column becomes a group column (1 where it holds its privileged
   value) and leaves the inputs, with the ``drop`` columns.
3. Columns that are not numbers (or are listed in ``categorical``) are one-hot encoded,
   dropping each one's first category (sorted), as Adult's.
4. A seeded split, stratified on the label (``test_size``), or the rows of ``test_path``.
5. ``standardize = "all"`` (default, Adult's protocol) standardizes every input column with
   the training rows' mean and standard deviation; ``"numeric"`` only the numeric ones.
6. The input domain, where an evasion attack may move a row: per feature, the smallest and
   largest standardized value over all rows, narrowed by ``bounds`` (``{column = [low,
   high]}`` in the file's units) where given.

The encoders (categories, means, standard deviations) are in the bundle's extras.
A file that cannot be used is a :class:`~toolkit.errors.DataError` naming the file and the
column: a missing column, a label with one value, an empty cell (NaN), a sensitive column
without its privileged value, or a group absent from a split.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> rows = "".join(f"{i},{'ab'[i % 2]},{i % 3 == 0}\\n" for i in range(30))
    >>> _ = path.write_text("x,g,y\\n" + rows)
    >>> bundle = load(0, path=str(path), label="y", favourable="True", sensitive={"g": "a"})
    >>> bundle.info.class_names, bundle.info.feature_names, bundle.info.sensitive["g"]
    (['False', 'True'], ['x'], ('b', 'a'))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, DataInfo, Split, stratified_split
from toolkit.data.domain import Domain
from toolkit.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

MODALITY = "tabular"


def load(
    seed: int,
    *,
    path: str,
    label: str,
    favourable: str | None = None,
    sensitive: dict[str, str] = {},  # noqa: B006 - read-only default
    drop: list[str] = [],  # noqa: B006 - read-only default
    categorical: list[str] = [],  # noqa: B006 - read-only default
    test_path: str | None = None,
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3,
    standardize: Literal["all", "numeric"] = "all",
    bounds: dict[str, list[float]] = {},  # noqa: B006 - read-only default
) -> DataBundle:
    """Read a CSV or Parquet table, prepared as described above.

    Args:
        seed: seeds the train/test split.
        path: the file (``.csv``, ``.tsv``, ``.parquet``; CSV is read with pandas' defaults,
            spaces after commas skipped).
        label: the label column.
        favourable: the label value that is class 1 (a binary task); default: every value
            is a class.
        sensitive: column -> privileged value, e.g. ``{race = "White", sex = "Male"}``.
        drop: columns removed from the inputs.
        categorical: columns one-hot encoded although they hold numbers.
        test_path: a second file with the test rows (default: a split of ``path``).
        test_size: the fraction of rows in the test split (default 0.3).
        standardize: ``"all"`` (default) or ``"numeric"`` columns.
        bounds: ``{column: [low, high]}``: the valid range of numeric columns, in the file's
            units, for the input domain.
    """
    frame = _read(Path(path).expanduser())
    test = _read(Path(test_path).expanduser()) if test_path is not None else None
    return prepare(
        seed, frame, test, source=path, test_source=test_path, label=label, favourable=favourable,
        sensitive=sensitive, drop=drop, categorical=categorical, test_size=test_size,
        standardize=standardize, bounds=bounds,
    )  # fmt: skip


def prepare(
    seed: int,
    frame: pd.DataFrame,
    test: pd.DataFrame | None = None,
    *,
    source: str,
    test_source: str | None = None,
    label: str,
    favourable: str | None = None,
    sensitive: dict[str, str] | None = None,
    drop: list[str] | None = None,
    categorical: list[str] | None = None,
    test_size: float = 0.3,
    standardize: str = "all",
    bounds: dict[str, list[float]] | None = None,
) -> DataBundle:
    """Tables already read (a DataFrame from a notebook: :func:`toolkit.run`), prepared as
    :func:`load` prepares its files; ``source`` names them in the errors. The other
    arguments are :func:`load`'s.

    Raises:
        DataError: as :func:`load` (empty cells included).
    """
    path = source
    sensitive, drop, categorical, bounds = sensitive or {}, drop or [], categorical or [], bounds or {}
    _check_cells(frame, source)
    if test is not None:
        _check_cells(test, test_source or "the test rows")
    for name, table in ((path, frame), *(((test_source, test),) if test is not None else ())):
        _check_columns(table, str(name), [label, *sensitive, *drop, *categorical, *bounds])
    names = _class_names(frame, label, favourable, path)
    whole = frame if test is None else _concat(frame, test)
    y = _labels(whole, label, favourable, names)
    groups, described = _groups(whole, sensitive, path)
    inputs = whole.drop(columns=[label, *sensitive, *[c for c in drop if c not in sensitive and c != label]])
    if test is None:
        train_idx, test_idx = stratified_split(y, test_size, seed, names=names, source=f"dataset.path {path}")
    else:
        train_idx, test_idx = torch.arange(len(frame)), torch.arange(len(frame), len(whole))
    _check_groups(groups, described, train_idx, test_idx, path)
    x, features, domain, encoders = _encode(inputs, train_idx, categorical, standardize, bounds, path)
    info = DataInfo(
        name=f"table:{Path(path).stem}",
        modality="tabular",
        input_shape=(x.shape[1],),
        class_names=names,
        sensitive=described,
        feature_names=features,
        domain=domain,
    )
    split = lambda idx: Split(x[idx], y[idx], {k: v[idx] for k, v in groups.items()})  # noqa: E731
    extras: dict[str, Any] = {"source": str(path), "rows": len(whole), "encoders": encoders}
    return DataBundle(split(train_idx), split(test_idx), info, extras=extras)


def _encode(
    inputs: pd.DataFrame,
    train: torch.Tensor,
    categorical: list[str],
    standardize: str,
    bounds: dict[str, list[float]],
    path: str,
) -> tuple[torch.Tensor, list[str], Domain, dict[str, Any]]:
    """The input columns as standardized features: the tensor, the feature names, the input
    domain and the encoders (categories, means, standard deviations)."""
    encoded, categories = _one_hot(inputs, categorical, path)
    x = torch.tensor(encoded.to_numpy(dtype="float32"))
    numeric = [i for i, c in enumerate(encoded.columns) if c in inputs.columns and c not in categories]
    x, mean, std = _standardize(x, train, None if standardize == "all" else numeric)
    domain = _domain(x, list(encoded.columns), bounds, mean, std, path)
    encoders = {"categories": categories, "mean": mean.tolist(), "std": std.tolist()}
    return x, [str(c) for c in encoded.columns], domain, encoders


def _read(path: Path) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas comes with the fairness extra
        raise DataError(
            "the table dataset needs pandas: pip install 'trustworthy-ml-toolkit[fairness]'"
        ) from exc
    if not path.is_file():
        raise DataError(f"dataset table: {path} is not a file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
            frame = pd.read_csv(path, sep=sep, skipinitialspace=True)
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from exc
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise DataError(f"{path}: not a readable table ({type(exc).__name__}: {exc})") from exc
    return frame


def _check_cells(frame: pd.DataFrame, path: str) -> None:
    """No rows, or an empty cell (NaN), is a DataError naming the column and the first row."""
    if len(frame) == 0:
        raise DataError(f"{path}: no rows")
    frame.columns = [str(c) for c in frame.columns]
    empty = [c for c in frame.columns if frame[c].isna().any()]
    if empty:
        row = int(frame[empty[0]].isna().to_numpy().argmax())
        raise DataError(
            f"{path}: column {empty[0]!r} has empty cells (the first in data row {row + 1}); fill them "
            f"or drop the rows{f', and {len(empty) - 1} more column(s)' if len(empty) > 1 else ''}"
        )


def _check_columns(frame: pd.DataFrame, path: str, wanted: list[str]) -> None:
    lacking = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if lacking:
        raise DataError(
            f"{path}: no column {', '.join(map(repr, lacking))}; the columns are {list(frame.columns)}"
        )


def _concat(frame: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if list(test.columns) != list(frame.columns):
        raise DataError(f"dataset.test_path: its columns {list(test.columns)} are not the training file's")
    return pd.concat([frame, test], ignore_index=True)


def _class_names(frame: pd.DataFrame, label: str, favourable: str | None, path: str) -> list[str]:
    values = sorted({str(v) for v in frame[label]})
    if favourable is not None:
        if favourable not in values:
            raise DataError(
                f"dataset.favourable: {path} has no row whose {label!r} is {favourable!r} "
                f"(values: {values[:8]})"
            )
        others = [v for v in values if v != favourable]
        if not others:
            raise DataError(
                f"{path}: the label column {label!r} holds one value, {favourable!r}; a classifier needs two"
            )
        return [others[0] if len(others) == 1 else f"not {favourable}", favourable]
    if len(values) < 2:
        raise DataError(
            f"{path}: the label column {label!r} holds one value, {values[0]!r}; a classifier needs two"
        )
    return values


def _labels(frame: pd.DataFrame, label: str, favourable: str | None, names: list[str]) -> torch.Tensor:
    text = frame[label].astype(str)
    if favourable is not None:
        return torch.tensor((text == favourable).to_numpy(), dtype=torch.long)
    unknown = sorted(set(text) - set(names))
    if unknown:
        raise DataError(f"dataset.test_path: label value(s) {unknown[:5]} are not in the training file")
    return torch.tensor(text.map({n: i for i, n in enumerate(names)}).to_numpy(), dtype=torch.long)


def _groups(
    frame: pd.DataFrame, sensitive: dict[str, str], path: str
) -> tuple[dict[str, torch.Tensor], dict[str, tuple[str, str]]]:
    groups, described = {}, {}
    for column, privileged in sensitive.items():
        text = frame[column].astype(str)
        values = sorted(set(text))
        if privileged not in values:
            raise DataError(
                f"dataset.sensitive.{column}: {path} has no row whose {column!r} is {privileged!r} "
                f"(values: {values[:8]})"
            )
        others = [v for v in values if v != privileged]
        groups[column] = torch.tensor((text == privileged).to_numpy(), dtype=torch.long)
        described[column] = (others[0] if len(others) == 1 else f"not {privileged}", privileged)
    return groups, described


def _check_groups(
    groups: dict[str, torch.Tensor], described: dict[str, tuple[str, str]], train: torch.Tensor,
    test: torch.Tensor, path: str,
) -> None:  # fmt: skip
    for column, values in groups.items():
        for part, idx in (("training", train), ("test", test)):
            present = set(values[idx].tolist())
            for code, name in enumerate(described[column]):
                if code not in present:
                    raise DataError(
                        f"{path}: no row of the {part} split is in the group {column} = {name!r}; its "
                        "fairness metrics would be undefined: give more rows of it, or another split"
                    )


def _one_hot(
    inputs: pd.DataFrame, categorical: list[str], path: str
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Inputs with categorical columns one-hot encoded, each one's first category (sorted)
    dropped, as Adult's. The categories are those of every row: a vocabulary, no statistic
    of the test rows (the standardization uses the training rows only)."""
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    chosen = [
        c
        for c in inputs.columns
        if c in categorical or not is_numeric_dtype(inputs[c]) or is_bool_dtype(inputs[c])
    ]
    categories = {c: sorted({str(v) for v in inputs[c]}) for c in chosen}
    frame = inputs.copy()
    for c in chosen:
        frame[c] = pd.Categorical(frame[c].astype(str), categories=categories[c])
    if not len(frame.columns):
        raise DataError(f"{path}: no input column is left once the label, sensitive and drop columns are out")
    return pd.get_dummies(frame, columns=chosen, drop_first=True, dtype="float32"), categories


def _standardize(
    x: torch.Tensor, train: torch.Tensor, columns: list[int] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x`` standardized with the training rows' statistics (``columns``: only those)."""
    mean = x[train].mean(dim=0)
    std = x[train].std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    if columns is not None:
        keep = torch.ones(x.shape[1], dtype=torch.bool)
        keep[columns] = False
        mean, std = (
            torch.where(keep, torch.zeros_like(mean), mean),
            torch.where(keep, torch.ones_like(std), std),
        )
    return (x - mean) / std, mean, std


def _domain(
    x: torch.Tensor,
    columns: list[Any],
    bounds: dict[str, list[float]],
    mean: torch.Tensor,
    std: torch.Tensor,
    path: str,
) -> Domain:
    low, high = x.min(dim=0).values.clone(), x.max(dim=0).values.clone()
    for column, pair in bounds.items():
        if column not in columns or len(pair) != 2 or pair[0] > pair[1]:
            raise DataError(f"dataset.bounds.{column}: give [low, high] of a numeric input column of {path}")
        i = columns.index(column)
        low[i] = max(float(low[i]), (pair[0] - float(mean[i])) / float(std[i]))
        high[i] = min(float(high[i]), (pair[1] - float(mean[i])) / float(std[i]))
    return Domain(tuple(low.tolist()), tuple(high.tolist()))
