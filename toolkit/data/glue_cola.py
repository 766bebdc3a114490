"""CoLA, the Corpus of Linguistic Acceptability (Warstadt, Singh & Bowman, TACL 2019).

Sentences labelled ``acceptable`` (1) or ``unacceptable`` (0), the GLUE task scored by
the Matthews correlation. Read from the first of:

- ``root`` (or ``$TOOLKIT_DATA`` / ``glue/CoLA``, ``CoLA``, ``cola``, ``text/cola``): the GLUE
  layout (``train.tsv``, ``dev.tsv``; four tab-separated columns: source, label, original
  mark, sentence), the raw CoLA layout (``raw/in_domain_train.tsv`` with the in-domain and
  out-of-domain dev files, which together are GLUE's dev set), or a two-column
  ``sentence<TAB>label`` file (``train.tsv``; the copy in ``../shared/data/text/cola``);
- Hugging Face ``datasets`` (``glue``/``cola``), when ``allow_download`` is true.

Without a dev file, a seeded stratified ``validation`` fraction of the training sentences
is the test split. GLUE's dev set (or that split) is the ``test`` split of the bundle: the
split a CoLA score is reported on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from toolkit.data.base import DataBundle, data_root
from toolkit.errors import DataError
from toolkit.text.bundle import need_tokenizer, seeded_split, text_bundle, text_split

MODALITY = "text"
#: Left out of the recipe, these take the model's values (its tokenizer, length and download rule).
FROM_MODEL = {"tokenizer": "checkpoint", "max_length": "max_length", "allow_download": "allow_download"}
CLASS_NAMES = ["unacceptable", "acceptable"]
_PLACES = ("", "glue/CoLA", "CoLA", "cola", "text/cola")
_LAYOUTS = (
    ("train.tsv", ("dev.tsv",)),
    ("raw/in_domain_train.tsv", ("raw/in_domain_dev.tsv", "raw/out_of_domain_dev.tsv")),
    ("in_domain_train.tsv", ("in_domain_dev.tsv", "out_of_domain_dev.tsv")),
)


def load(
    seed: int,
    *,
    tokenizer: str | None = None,
    root: str | None = None,
    max_length: Annotated[int, Field(ge=4, le=4096)] = 64,
    validation: Annotated[float, Field(gt=0, lt=1)] = 0.1,
    max_train: Annotated[int, Field(ge=2)] | None = None,
    allow_download: bool = False,
) -> DataBundle:
    """Load CoLA and tokenize it with ``tokenizer``'s fast tokenizer (cached).

    Args:
        seed: seeds the validation split (when there is no dev file) and ``max_train``.
        tokenizer: the checkpoint whose tokenizer is used (hub name or folder); left out, a
            recipe with model ``hf_text`` fills in the model's checkpoint.
        root: the CoLA folder (default: searched under ``$TOOLKIT_DATA``).
        max_length: tokens per sentence at most (default 64; CoLA's longest has 47).
        validation: the fraction of training sentences held out when there is no dev file.
        max_train: keep at most this many training sentences (stratified; for quick runs).
        allow_download: read GLUE through Hugging Face ``datasets`` when no folder is found,
            and let the tokenizer download.

    Example:
        >>> # TOOLKIT_DATA=../shared/data: load(0, tokenizer="all-MiniLM-L6-v2")
    """
    checkpoint = need_tokenizer(tokenizer, "glue_cola")
    train, dev = _read(root, allow_download)
    if dev is None:
        kept, held = seeded_split(train[1], validation, seed=seed, source="CoLA", option="dataset.validation")
        train, dev = _pick(train, kept), _pick(train, held)
    if max_train is not None and max_train < len(train[0]):
        keep = seeded_split(
            train[1], 1 - max_train / len(train[0]), seed=seed, source="CoLA", option="dataset.max_train"
        )
        train = _pick(train, keep[0])
    common: dict[str, Any] = {
        "tokenizer": checkpoint,
        "max_length": max_length,
        "allow_download": allow_download,
    }
    return text_bundle(
        name="glue_cola",
        class_names=CLASS_NAMES,
        train=text_split(train[0], train[1], **common),
        test=text_split(dev[0], dev[1], **common),
        tokenizer=checkpoint,
        allow_download=allow_download,
        max_length=max_length,
    )


Sentences = tuple[list[str], list[int]]


def _read(root: str | None, allow_download: bool) -> tuple[Sentences, Sentences | None]:
    """The training sentences and the dev sentences (``None`` when there is no dev file)."""
    bases = [Path(root).expanduser()] if root else [data_root() / p for p in _PLACES]
    for base in bases:
        for train_name, dev_names in _LAYOUTS:
            if (base / train_name).is_file():
                dev_files = [base / n for n in dev_names if (base / n).is_file()]
                dev = _join([read_tsv(p) for p in dev_files]) if dev_files else None
                return read_tsv(base / train_name), dev
    if root is None and allow_download:
        return _from_hub()
    where = str(bases[0]) if root else f"{data_root()} (and {', '.join(p for p in _PLACES if p)} under it)"
    raise DataError(
        f"dataset glue_cola: no CoLA files in {where}; give dataset.root (a folder with train.tsv, "
        "the GLUE layout, or raw/in_domain_train.tsv), set TOOLKIT_DATA, or allow_download = true"
    )


def _pick(part: Sentences, index: list[int]) -> Sentences:
    """The sentences and labels at ``index``."""
    return [part[0][i] for i in index], [part[1][i] for i in index]


def _join(parts: list[Sentences]) -> Sentences:
    return [s for p in parts for s in p[0]], [y for p in parts for y in p[1]]


def read_tsv(path: Path) -> Sentences:
    """Sentences and labels of a CoLA file: four columns (GLUE and raw CoLA) or two
    (``sentence<TAB>label``); a header line is skipped; anything else is a :class:`DataError`
    naming the file and line."""
    sentences: list[str] = []
    labels: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            cells = line.rstrip("\n\r").split("\t")
            if cells == [""]:
                continue
            if len(cells) == 4:
                label, sentence = cells[1], cells[3]
            elif len(cells) == 2:
                sentence, label = cells
            else:
                raise DataError(
                    f"{path}, line {number}: {len(cells)} tab-separated columns; CoLA files have "
                    "four (source, label, mark, sentence) or two (sentence, label)"
                )
            if label not in ("0", "1"):
                if number == 1 and not sentences:
                    continue  # a header
                raise DataError(f"{path}, line {number}: the label is {label!r}, not 0 or 1")
            sentences.append(sentence)
            labels.append(int(label))
    if not sentences:
        raise DataError(f"{path}: no sentences")
    return sentences, labels


def _from_hub() -> tuple[Sentences, Sentences]:  # pragma: no cover - needs the network
    try:
        from datasets import load_dataset
    except ImportError as exc:
        raise DataError("dataset glue_cola: reading GLUE from the hub needs `pip install datasets`") from exc
    glue = load_dataset("glue", "cola")
    return (
        (list(glue["train"]["sentence"]), list(glue["train"]["label"])),
        (list(glue["validation"]["sentence"]), list(glue["validation"]["label"])),
    )
