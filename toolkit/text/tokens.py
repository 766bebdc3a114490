"""Tokenization with a model's fast tokenizer, once per split, kept in the artifact cache.

A text split's inputs are ``{"input_ids": (N, L) int64, "attention_mask": (N, L) int64}``,
padded on the right to the split's longest sentence and truncated at ``max_length``
tokens. Each batch is trimmed to its own longest sentence when it reaches the model
(:func:`toolkit.data.inputs.to_model_input`): dynamic padding per batch.

A checkpoint is named by a Hugging Face hub name (``distilbert-base-uncased``), a local
folder, or a folder name under ``$TOOLKIT_DATA/models`` (so ``all-MiniLM-L6-v2`` finds
``../shared/data/models/all-MiniLM-L6-v2`` when ``TOOLKIT_DATA=../shared/data``). Nothing is
downloaded unless ``allow_download`` is true.

The token ids of a split are stored under kind ``tokens``, keyed by the tokenizer's
serialized state (its ``tokenizer.json``: vocabulary, normalizer, special tokens), the
length limit and the texts, so a changed tokenizer or text never reuses stale ids.

Example:
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> from transformers import PreTrainedTokenizerFast
    >>> vocab = {"[PAD]": 0, "[UNK]": 1, "a": 2, "b": 3}
    >>> core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> core.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]")
    >>> encode(tok, ["a b", "b"], max_length=8)["input_ids"].tolist()
    [[2, 3], [3, 0]]
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from toolkit.errors import DataError


def locate(checkpoint: str) -> str:
    """A local folder for ``checkpoint`` if there is one (as given, or under
    ``$TOOLKIT_DATA/models``), else ``checkpoint`` itself (a hub name)."""
    from toolkit.data.base import data_root

    given = Path(checkpoint).expanduser()
    if given.is_dir():
        return str(given)
    under = data_root() / "models" / checkpoint
    if under.is_dir():
        return str(under)
    return checkpoint


def missing_checkpoint(checkpoint: str, what: str, exc: Exception) -> str:
    """The message for a checkpoint that could not be loaded without downloading."""
    return (
        f"{what}: cannot load '{checkpoint}' from local files ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else 'not found'}). Give a local folder with the "
        "model (config.json, weights, tokenizer files), put it under $TOOLKIT_DATA/models, or set "
        "allow_download = true when online"
    )


def folder_stamp(folder: Path) -> tuple[tuple[str, str], ...]:
    """The name and content (SHA-256, remembered while the file is unchanged:
    :mod:`toolkit.data.filedigest`) of each file in ``folder`` (none if it is no folder):
    what identifies a local checkpoint's files, so replacing the weights by others of the
    same size and modification time is still a new checkpoint."""
    from toolkit.data.filedigest import digests

    if not folder.is_dir():
        return ()
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return tuple(zip((p.name for p in files), digests(files, what="checkpoint file"), strict=True))


def load_tokenizer(checkpoint: str, *, allow_download: bool = False, what: str = "dataset.tokenizer") -> Any:
    """The fast tokenizer of ``checkpoint`` (see :func:`locate`); local files only unless
    ``allow_download``. A missing or slow-only tokenizer is a :class:`DataError`. One process
    loads a tokenizer once (the data set, the model, the explainers and the tasks share it)
    while its folder's files stay as they were."""
    try:
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the text extra is missing
        raise DataError(
            f"{what}: text data needs transformers: pip install 'trustworthy-ml-toolkit[text]'"
        ) from exc
    source = locate(checkpoint)
    try:
        tokenizer = _tokenizer(source, allow_download, folder_stamp(Path(source)))
    except (OSError, ValueError) as exc:
        raise DataError(missing_checkpoint(checkpoint, what, exc)) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"{what}: '{checkpoint}' has no fast tokenizer (tokenizer.json); give one that does")
    return tokenizer


@functools.lru_cache(maxsize=8)
def _tokenizer(source: str, allow_download: bool, stamp: tuple[tuple[str, int, int], ...]) -> Any:
    """The tokenizer at ``source``, loaded once per ``stamp`` of its folder's files."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source, local_files_only=not allow_download, use_fast=True)


def tokenizer_digest(tokenizer: Any) -> str:
    """SHA-256 of the tokenizer's serialized state (vocabulary, normalizer, pre-tokenizer,
    special tokens), less the padding and truncation settings, which each call of
    :func:`encode` sets itself (a shared tokenizer keeps the last call's)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.pop("padding", None)
    state.pop("truncation", None)
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def encode(tokenizer: Any, texts: Sequence[str], *, max_length: int) -> dict[str, torch.Tensor]:
    """``texts`` as token ids and attention masks ``(N, L)``, padded on the right to the longest
    and truncated at ``max_length`` tokens."""
    if not texts:
        empty = torch.zeros(0, 1, dtype=torch.long)
        return {"input_ids": empty, "attention_mask": empty.clone()}
    tokenizer.padding_side = "right"
    out = tokenizer(
        list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {"input_ids": out["input_ids"].long(), "attention_mask": out["attention_mask"].long()}


def tokenize(
    texts: Sequence[str], checkpoint: str, *, max_length: int = 128, allow_download: bool = False
) -> dict[str, torch.Tensor]:
    """:func:`encode` with ``checkpoint``'s tokenizer, from the artifact cache when this
    tokenizer has tokenized these texts before (kind ``tokens``)."""
    from toolkit.execution.cache import ArtifactCache

    tokenizer = load_tokenizer(checkpoint, allow_download=allow_download)
    texts_digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    key = hashlib.sha256(
        json.dumps([tokenizer_digest(tokenizer), max_length, texts_digest, len(texts)]).encode()
    ).hexdigest()
    store = ArtifactCache()
    found = store.load("tokens", key)
    if found is not None and set(found[0]) == {"input_ids", "attention_mask"}:
        return {k: v.long() for k, v in found[0].items()}
    ids = encode(tokenizer, texts, max_length=max_length)
    meta = {"description": f"{len(texts)} texts tokenized by {checkpoint}", "tokenizer": checkpoint}
    with contextlib.suppress(OSError):  # a read-only cache: the ids are still right, only not kept
        store.save("tokens", key, ids, meta)
    return ids
