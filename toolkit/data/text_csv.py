"""Any labelled text in a CSV or TSV file: a text column, a label column, optional groups.

Each row is one sentence. Labels are the label column's values; the classes are named by
``class_names`` (in that order) or by the sorted distinct values. A ``sensitive`` column
marks group membership: the rows whose value is the privileged value form group 1, the
rest group 0 (as ``DataInfo.sensitive`` describes). Without a ``test_path``, a seeded
stratified ``test_size`` fraction is the test split.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, Split
from toolkit.errors import DataError
from toolkit.text.bundle import need_tokenizer, seeded_split, text_bundle, text_split

MODALITY = "text"
#: Left out of the recipe, these take the model's values (its tokenizer, length and download rule).
FROM_MODEL = {"tokenizer": "checkpoint", "max_length": "max_length", "allow_download": "allow_download"}

Rows = list[dict[str, str]]


def load(
    seed: int,
    *,
    path: str,
    tokenizer: str | None = None,
    text: str = "text",
    label: str = "label",
    test_path: str | None = None,
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.2,
    class_names: list[str] = [],  # noqa: B006 - read-only default, shown by `toolkit show`
    sensitive: dict[str, str] = {},  # noqa: B006 - read-only default
    delimiter: str | None = None,
    max_length: Annotated[int, Field(ge=4, le=4096)] = 128,
    allow_download: bool = False,
) -> DataBundle:
    """Read a CSV/TSV file of labelled sentences and tokenize them (cached).

    Args:
        seed: seeds the train/test split.
        path: the file (``.csv``, or ``.tsv``/``.tab`` for tabs; see ``delimiter``).
        tokenizer: the checkpoint whose tokenizer is used; left out, a recipe with model
            ``hf_text`` fills in the model's checkpoint.
        text: the column of sentences (default ``text``).
        label: the column of labels (default ``label``).
        test_path: a second file with the test rows (default: a split of ``path``).
        test_size: the fraction of each class in the test split when there is no ``test_path``.
        class_names: the label values in class order (default: the sorted distinct values).
        sensitive: column -> privileged value, e.g. ``{gender = "male"}``.
        delimiter: the field separator (default: by extension, tab for ``.tsv``/``.tab``).
        max_length: tokens per sentence at most (default 128).
        allow_download: let the tokenizer download.
    """
    checkpoint = need_tokenizer(tokenizer, "text_csv")
    columns, needed = [text, label, *sensitive], [label, *sensitive]
    rows = read_rows(Path(path).expanduser(), columns, delimiter, needed=needed)
    names = _class_names(rows, label, class_names, path)
    if test_path is not None:
        test_rows = read_rows(Path(test_path).expanduser(), columns, delimiter, needed=needed)
    else:
        labels = [_label(r[label], names, path) for r in rows]
        kept, held = seeded_split(labels, test_size, seed=seed, names=names, source=f"dataset.path {path}")
        rows, test_rows = [rows[i] for i in kept], [rows[i] for i in held]

    def split(part: Rows, source: str) -> Split:
        labels = [_label(r[label], names, source) for r in part]
        return text_split(
            [r[text] for r in part], labels, groups=_groups(part, sensitive),
            tokenizer=checkpoint, max_length=max_length, allow_download=allow_download,
        )  # fmt: skip

    return text_bundle(
        name=f"text_csv:{Path(path).stem}",
        class_names=names,
        train=split(rows, path),
        test=split(test_rows, test_path or path),
        tokenizer=checkpoint,
        allow_download=allow_download,
        max_length=max_length,
        sensitive={c: (f"not {v}", v) for c, v in sensitive.items()},
    )


def _class_names(rows: Rows, label: str, given: list[str], path: str) -> list[str]:
    names = list(given) or sorted({r[label] for r in rows})
    if len(names) < 2:
        raise DataError(f"dataset text_csv: {path} has {len(names)} label value(s); at least 2 are needed")
    return names


def _groups(rows: Rows, sensitive: dict[str, str]) -> dict[str, torch.Tensor]:
    """1 where a row's sensitive column holds the privileged value, else 0."""
    return {c: torch.tensor([int(r[c] == v) for r in rows], dtype=torch.long) for c, v in sensitive.items()}


def _label(value: str, names: list[str], source: str) -> int:
    if value not in names:
        raise DataError(f"{source}: label {value!r} is not one of dataset.class_names {names}")
    return names.index(value)


def read_rows(path: Path, columns: list[str], delimiter: str | None, *, needed: Sequence[str] = ()) -> Rows:
    """The rows of ``path`` as dicts of ``columns``.

    Args:
        path: the file.
        columns: the columns to read.
        delimiter: the field separator (default: tab for ``.tsv``/``.tab``, else a comma).
        needed: columns no row may leave empty (the label and the groups: an empty label
            would be a class of its own, an empty group a guess).

    Raises:
        DataError: a missing file or column, a row with fewer fields than the header, an
            empty ``needed`` cell (naming the line and the column), or no rows at all.
    """
    if not path.is_file():
        raise DataError(f"dataset text_csv: {path} is not a file")
    sep = delimiter or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    rows: Rows = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=sep)
            header = reader.fieldnames or []
            lacking = [c for c in columns if c not in header]
            if lacking:
                raise DataError(
                    f"{path}: no column {', '.join(map(repr, lacking))}; the columns are {header}"
                )
            for record in reader:
                short = [c for c in columns if record.get(c) is None]
                empty = [c for c in needed if not (record.get(c) or "").strip()]
                if short or empty:
                    what = (
                        "has fewer fields than the header"
                        if short
                        else f"has no value in column {empty[0]!r}"
                    )
                    raise DataError(
                        f"{path}, line {reader.line_num}: the row {what}; fill it in or remove the row"
                    )
                rows.append({c: record[c] for c in columns})
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable {('TSV' if sep == chr(9) else 'CSV')} file ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows
