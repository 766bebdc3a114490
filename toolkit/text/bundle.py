"""A text data set's bundle from sentences and labels: tokenized once, cached, described.

Example:
    >>> from toolkit.text.bundle import seeded_split
    >>> train, valid = seeded_split([0, 1] * 10, 0.2, seed=0)
    >>> len(train), len(valid)
    (16, 4)
"""

from __future__ import annotations

from collections.abc import Sequence

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


def seeded_split(labels: Sequence[int], fraction: float, *, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a stratified split: ``(kept, held)`` with ``fraction`` of each class held."""
    train, held = stratified_split(torch.as_tensor(list(labels), dtype=torch.long), fraction, seed)
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
    sensitive: dict[str, tuple[str, str]] | None = None,
    extras: dict | None = None,
) -> DataBundle:
    """The bundle of two tokenized splits, with the tokenizer recorded in ``info``."""
    bundle = split_holdout(
        name=name, modality="text", class_names=class_names, train=train, test=test, holdout=[]
    )
    bundle.info.tokenizer = tokenizer
    bundle.info.vocab_size = len(load_tokenizer(tokenizer, allow_download=allow_download))
    bundle.info.sensitive = dict(sensitive or {})
    bundle.extras.update(extras or {})
    return bundle
