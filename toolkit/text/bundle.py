"""A text data set's bundle from sentences and labels: tokenized once, cached, described.

Example:
    >>> from toolkit.text.bundle import seeded_split
    >>> train, valid = seeded_split([0, 1] * 10, 0.2, seed=0)
    >>> len(train), len(valid)
    (16, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from toolkit.data.base import DataBundle, Split, split_holdout, stratified_split
from toolkit.errors import DataError
from toolkit.text.tokens import load_tokenizer, tokenize


def need_tokenizer(tokenizer: str | None, dataset: str) -> str:
    """``tokenizer``, or a usage error saying how to name one."""
    if not tokenizer:
        raise DataError(
            f"dataset '{dataset}': no tokenizer; set dataset.tokenizer to a checkpoint (hub name or "
            "folder), or use model hf_text, whose checkpoint the dataset then takes"
        )
    return tokenizer


def seeded_split(
    labels: Sequence[int], fraction: float, *, seed: int, **said: Any
) -> tuple[list[int], list[int]]:
    """Indices of a stratified split: ``(kept, held)`` with ``fraction`` of each class held;
    ``said`` names the classes, the source and the option in the errors
    (:func:`~toolkit.data.base.stratified_split`)."""
    train, held = stratified_split(torch.as_tensor(list(labels), dtype=torch.long), fraction, seed, **said)
    return sorted(train.tolist()), sorted(held.tolist())


def text_split(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    tokenizer: str,
    max_length: int,
    allow_download: bool,
    groups: dict[str, torch.Tensor] | None = None,
) -> Split:
    """One split: token ids (cached per tokenizer) with the sentences and labels."""
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} sentences but {len(labels)} labels")
    x = tokenize(list(texts), tokenizer, max_length=max_length, allow_download=allow_download)
    y = torch.as_tensor(list(labels), dtype=torch.long)
    return Split(x, y, dict(groups or {}), list(texts))


def text_bundle(
    *,
    name: str,
    class_names: Sequence[str],
    train: Split,
    test: Split,
    tokenizer: str,
    allow_download: bool,
    max_length: int,
    sensitive: dict[str, tuple[str, str]] | None = None,
    extras: dict | None = None,
) -> DataBundle:
    """The bundle of two tokenized splits, with the tokenizer recorded in ``info``."""
    bundle = split_holdout(
        name=name, modality="text", class_names=class_names, train=train, test=test, holdout=[]
    )
    bundle.info.tokenizer = tokenizer
    bundle.info.max_length = max_length
    bundle.info.vocab_size = len(load_tokenizer(tokenizer, allow_download=allow_download))
    bundle.info.sensitive = dict(sensitive or {})
    bundle.extras.update(extras or {})
    return bundle


def pad_cat(parts: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    """Token inputs of different widths joined along the first dimension, padded on the right
    (``input_ids`` with ``pad_id``, every other part with 0)."""
    width = max(int(p["input_ids"].shape[1]) for p in parts)

    def pad(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)

    return {k: torch.cat([pad(p[k], pad_id if k == "input_ids" else 0) for p in parts]) for k in parts[0]}


def rewrite_train(
    bundle: DataBundle, index: Sequence[int], texts: Sequence[str], *, mode: str, what: str
) -> DataBundle:
    """A bundle whose training split has new sentences for the samples at ``index``: added as
    copies (``mode = "add"``, same labels and groups) or in place of them (``"replace"``).
    The new sentences are tokenized like the rest (the data's tokenizer and length)."""
    import copy

    info, train = bundle.info, bundle.train
    if info.tokenizer is None or train.text is None or not isinstance(train.x, dict):
        raise DataError(f"defense {what} rewrites sentences: it needs text data (glue_cola, text_csv)")
    ids = tokenize(list(texts), info.tokenizer, max_length=info.max_length or 512)
    pad_id = load_tokenizer(info.tokenizer).pad_token_id or 0
    rows = torch.as_tensor(list(index), dtype=torch.long)
    joined = pad_cat([dict(train.x), ids], pad_id)
    n = len(train)
    if mode == "add":
        source = torch.arange(n + len(rows))
        y = torch.cat([train.y, train.y[rows]])
        groups = {k: torch.cat([v, v[rows]]) for k, v in train.groups.items()}
        sentences = list(train.text) + list(texts)
    else:  # each rewrite (after the originals in ``joined``) takes its original's place
        source = torch.arange(n)
        source[rows] = torch.arange(n, n + len(rows))
        y, groups = train.y.clone(), {k: v.clone() for k, v in train.groups.items()}
        sentences = list(train.text)
        for i, r in enumerate(rows.tolist()):
            sentences[r] = texts[i]
    x = {k: v[source] for k, v in joined.items()}
    out = copy.copy(bundle)
    out.train = Split(x, y, groups, sentences)
    out.extras = dict(bundle.extras)
    return out
