"""UCI Adult (Census Income): predict income > 50K, with race and sex as sensitive attributes.

Becker & Kohavi (1996), UCI Machine Learning Repository, CC BY 4.0; the original files ship
with the toolkit (``toolkit/data/files/adult``), so this works offline.

Preprocessing (the protocol of the adversarial-debiasing tutorial this reproduces):

1. Read ``adult.data`` (32,561 rows); target ``income > 50K``.
2. Binarize the sensitive attributes: ``sex`` female (0) vs male (1); ``race`` White (1)
   vs Black (0), keeping only rows whose race is one of the two (``white_vs_black``,
   30,940 rows), or White vs everyone else keeping all rows (``white_vs_nonwhite``).
3. Remove the sensitive attributes and ``fnlwgt`` from the inputs.
4. Keep missing values (``?``) as their own category; one-hot encode the categorical
   columns, dropping the first level of each.
5. Split 70/30, stratified on the label; standardize every column with the mean and
   standard deviation of the training part only.
6. The input domain (where an attack may move a row) is, per feature, the standardized
   minimum and maximum over all rows: a one-hot column stays between its two values.

``source = "openml"`` fetches OpenML's copy (data id 1590, train and test files together)
through ``fairlearn.datasets.fetch_adult`` instead, when online.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch
from pydantic import Field

from toolkit.data.base import DataBundle, DataInfo, Split, stratified_split
from toolkit.data.domain import Domain
from toolkit.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "income",
]  # fmt: skip
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
BUNDLED = Path(__file__).resolve().parent / "files" / "adult"
CLASS_NAMES = ["<=50K", ">50K"]
MODALITY = "tabular"

#: The two groups of each binarization: (unprivileged, privileged) when the default holds.
GROUPS: dict[str, tuple[str, str]] = {
    "sex": ("Female", "Male"),
    "race:white_vs_black": ("Black", "White"),
    "race:white_vs_nonwhite": ("Non-white", "White"),
}


def load(
    seed: int,
    *,
    sensitive: list[Literal["race", "sex"]] = ["race", "sex"],  # noqa: B006 - read-only default
    race: Literal["white_vs_black", "white_vs_nonwhite"] = "white_vs_black",
    privileged: dict[str, str] = {"race": "White", "sex": "Male"},  # noqa: B006 - read-only default
    drop: list[str] = ["fnlwgt"],  # noqa: B006 - read-only default
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3,
    stratify: bool = True,
    source: Literal["bundled", "openml"] = "bundled",
    data_dir: str | None = None,
) -> DataBundle:
    """Load Adult with its sensitive attributes as groups, preprocessed as above.

    Args:
        seed: seed of the train/test split.
        sensitive: the sensitive attributes (default ``["race", "sex"]``); each is removed
            from the inputs and returned as a group column (1 = privileged).
        race: ``"white_vs_black"`` (default; keeps only White and Black rows) or
            ``"white_vs_nonwhite"`` (keeps every row).
        privileged: the privileged group of each attribute (default White and Male).
        drop: further columns removed from the inputs (default ``["fnlwgt"]``).
        test_size: fraction of rows in the test split (default 0.3).
        stratify: stratify the split on the label (default true).
        source: ``"bundled"`` (the UCI files shipped with the toolkit) or ``"openml"``.
        data_dir: a folder with ``adult.data`` or ``adult.data.gz`` to read instead of the
            bundled copy.

    Example:
        >>> bundle = load(0)
        >>> len(bundle.train) + len(bundle.test), bundle.info.sensitive["race"]
        (30940, ('Black', 'White'))
    """
    frame = _read(source, data_dir)
    unknown = sorted(set(drop) - set(COLUMNS))
    if unknown:
        raise DataError(f"dataset.drop: unknown column(s) {unknown}; columns: {', '.join(COLUMNS[:-1])}")
    frame = _select_rows(frame, sensitive, race)
    groups, described = _group_columns(frame, sensitive, race, privileged)
    y = torch.tensor((frame["income"] == ">50K").to_numpy(), dtype=torch.long)
    features = _one_hot(frame.drop(columns=["income", *sensitive, *drop]))
    x = torch.tensor(features.to_numpy(dtype="float32"))
    train_idx, test_idx = _split_indices(y, test_size, seed, stratify=stratify)
    x, mean, std = _standardize(x, train_idx)
    domain = Domain(tuple(x.min(dim=0).values.tolist()), tuple(x.max(dim=0).values.tolist()))
    train, test = _split(x, y, groups, train_idx), _split(x, y, groups, test_idx)
    info = DataInfo(
        name="adult",
        modality="tabular",
        input_shape=(x.shape[1],),
        class_names=["<=50K", ">50K"],
        sensitive=described,
        feature_names=list(features.columns),
        domain=domain,
    )
    origin = source if data_dir is None else str(data_dir)
    extras = _extras(origin, len(y), train, test, mean, std, described, sensitive)
    return DataBundle(train, test, info, extras=extras)


def _select_rows(frame: pd.DataFrame, sensitive: Sequence[str], race: str) -> pd.DataFrame:
    """The rows the race binarization keeps (all of them without race), renumbered from 0.

    Args:
        frame: the raw table.
        sensitive: the sensitive attributes.
        race: ``"white_vs_black"`` keeps only White and Black rows; ``"white_vs_nonwhite"``
            keeps every row and renames every race but White ``"Non-white"``.

    Returns:
        The selected rows with a fresh index.
    """
    if "race" in sensitive:
        if race == "white_vs_black":
            frame = frame[frame["race"].isin(["White", "Black"])]
        else:
            frame = frame.assign(race=frame["race"].where(frame["race"] == "White", "Non-white"))
    return frame.reset_index(drop=True)


def _group_columns(
    frame: pd.DataFrame, sensitive: Sequence[str], race: str, privileged: dict[str, str]
) -> tuple[dict[str, torch.Tensor], dict[str, tuple[str, str]]]:
    """The group column of each sensitive attribute (1 = privileged) and its two group names.

    Args:
        frame: the selected rows.
        sensitive: the sensitive attributes.
        race: the race binarization.
        privileged: the privileged group of each attribute (default the second of its pair).

    Returns:
        The group columns and, per attribute, ``(unprivileged, privileged)``.

    Raises:
        DataError: a privileged group or attribute that does not exist.
    """
    groups: dict[str, torch.Tensor] = {}
    described: dict[str, tuple[str, str]] = {}
    for attr in sensitive:
        pair = GROUPS[f"race:{race}"] if attr == "race" else GROUPS[attr]
        chosen = privileged.get(attr, pair[1])
        if chosen not in pair:
            raise DataError(
                f"dataset.privileged.{attr}: there is no group '{chosen}'; "
                f"the groups of {attr} are {pair[0]!r} and {pair[1]!r}"
            )
        other = pair[0] if chosen == pair[1] else pair[1]
        groups[attr] = torch.tensor((frame[attr] == chosen).to_numpy(), dtype=torch.long)
        described[attr] = (other, chosen)
    stray = sorted(set(privileged) - {"race", "sex"})
    if stray:
        raise DataError(f"dataset.privileged: unknown attribute(s) {stray}; Adult's are 'race' and 'sex'")
    return groups, described


def _split_indices(
    y: torch.Tensor, test_size: float, seed: int, *, stratify: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted train and test row indices: stratified on ``y``, or a seeded random permutation."""
    if stratify:
        return stratified_split(y, test_size, seed)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = round(test_size * len(y))
    return perm[n_test:].sort().values, perm[:n_test].sort().values


def _standardize(x: torch.Tensor, train_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x`` standardized with the training rows' mean and standard deviation (1 where it is 0).

    Returns:
        The standardized ``x``, the mean and the standard deviation.
    """
    mean = x[train_idx].mean(dim=0)
    std = x[train_idx].std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (x - mean) / std, mean, std


def _split(x: torch.Tensor, y: torch.Tensor, groups: dict[str, torch.Tensor], idx: torch.Tensor) -> Split:
    """The rows ``idx`` of the inputs, labels and group columns."""
    return Split(x[idx], y[idx], {k: v[idx] for k, v in groups.items()})


def _extras(
    origin: str,
    rows: int,
    train: Split,
    test: Split,
    mean: torch.Tensor,
    std: torch.Tensor,
    described: dict[str, tuple[str, str]],
    sensitive: Sequence[str],
) -> dict[str, Any]:
    """What the bundle records about the data: source, rows, positive rates, scaler, group sizes.

    Args:
        origin: the source, or the folder read.
        rows: the rows kept.
        train: the training split.
        test: the test split.
        mean: the scaler's mean per feature.
        std: the scaler's standard deviation per feature.
        described: ``(unprivileged, privileged)`` per attribute.
        sensitive: the sensitive attributes.

    Returns:
        The extras, with ``group_counts`` as ``{attr: {group: {"train": n, "test": n}}}``.
    """
    return {
        "source": origin,
        "rows": rows,
        "positive_rate": {"train": float(train.y.float().mean()), "test": float(test.y.float().mean())},
        "scaler": {"mean": mean.tolist(), "std": std.tolist()},
        "group_counts": {
            attr: {
                name: {
                    part: int((s.groups[attr] == code).sum())
                    for part, s in (("train", train), ("test", test))
                }
                for code, name in enumerate(described[attr])
            }
            for attr in sensitive
        },
    }


def _one_hot(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    categorical = [c for c in frame.columns if c not in NUMERIC]
    return pd.get_dummies(frame, columns=categorical, drop_first=True, dtype="float32")


def _read(source: str, data_dir: str | None) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas comes with the fairness extra
        raise DataError(
            "the adult dataset needs pandas: pip install 'trustworthy-ml-toolkit[fairness]'"
        ) from exc
    if source == "openml":
        return _read_openml()
    folder = Path(data_dir).expanduser() if data_dir else BUNDLED
    candidates = [folder / "adult.data", folder / "adult.data.gz"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataError(
            f"dataset.data_dir: no adult.data or adult.data.gz in {folder}; "
            "leave data_dir unset to use the copy that ships with the toolkit"
        )
    opener: Any = gzip.open if path.suffix == ".gz" else open
    bad = f"{path} is not in the UCI Adult format ({len(COLUMNS)} comma-separated columns)"
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            frame = pd.read_csv(fh, header=None, skipinitialspace=True, na_filter=False, comment="|")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{bad}: {exc}") from exc
    if frame.shape[1] != len(COLUMNS) or len(frame) == 0:
        raise DataError(f"{bad}: found {frame.shape[1]} columns and {len(frame)} rows")
    frame.columns = COLUMNS
    frame = frame[frame["income"].astype(str).str.len() > 0]
    frame["income"] = frame["income"].astype(str).str.rstrip(".")
    labels = set(frame["income"].unique())
    if not labels <= set(CLASS_NAMES):
        odd = sorted(labels - set(CLASS_NAMES))[:5]
        raise DataError(f"{bad}: the income column holds {odd}; only <=50K and >50K are labels")
    try:
        for col in NUMERIC:
            frame[col] = pd.to_numeric(frame[col], errors="raise")
    except ValueError as exc:
        raise DataError(f"{bad}: {exc}") from exc
    return frame


def _read_openml() -> pd.DataFrame:
    try:
        from fairlearn.datasets import fetch_adult
    except ImportError as exc:  # pragma: no cover - fairlearn comes with the fairness extra
        raise DataError(
            "source = 'openml' needs fairlearn: pip install 'trustworthy-ml-toolkit[fairness]'"
        ) from exc
    try:
        data = fetch_adult(as_frame=True)
    except Exception as exc:
        raise DataError(
            f"could not fetch Adult from OpenML ({type(exc).__name__}: {exc}); "
            "use source = 'bundled' (the copy that ships with the toolkit) when offline"
        ) from exc
    frame = data.frame.rename(columns={"class": "income"})
    for col in frame.columns:
        if col not in NUMERIC:
            frame[col] = frame[col].astype("string").fillna("?")
    return frame[COLUMNS]
