"""Tiny offline text fixtures: a BERT model folder and a CoLA folder, built in seconds.

Tests (ours and a plugin's) need a transformer and sentences without the network. A
model folder written by :func:`tiny_bert` loads like any Hugging Face checkpoint
(``AutoTokenizer``/``AutoModelForSequenceClassification``); :func:`tiny_cola` writes a
GLUE-layout CoLA folder whose acceptable sentences follow one word order (determiner, noun,
verb) and whose unacceptable ones scramble it, so a tiny model learns it in a few epochs.

Example:
    >>> import tempfile
    >>> folder = tiny_bert(tempfile.mkdtemp())
    >>> from transformers import AutoTokenizer
    >>> AutoTokenizer.from_pretrained(folder).tokenize("the dog runs .")
    ['the', 'dog', 'runs', '.']
"""

from __future__ import annotations

import functools
import inspect
import random
from pathlib import Path
from typing import Any

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NOUNS = ["dog", "cat", "man", "woman", "nurse", "doctor", "teacher", "farmer", "child", "bird"]
VERBS = ["runs", "sleeps", "sings", "works", "laughs", "waits", "eats", "reads"]
DETERMINERS = ["the", "a", "this", "that"]
OTHER = ["he", "she", "his", "her", "him", "is", "was", "happy", "tired", "and", "to", "very"]
OTHER += [".", ",", "'", "s"]


def vocabulary() -> list[str]:
    """The WordPiece vocabulary of the tiny model (special tokens first, a few sub-words)."""
    words = DETERMINERS + NOUNS + VERBS + OTHER + ["un", "##happy", "##s", "##ing"]
    return SPECIAL + sorted(set(words), key=words.index)


def tiny_bert(folder: str | Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> str:
    """Write a randomly initialized tiny BERT (``BertForSequenceClassification``, 2 labels)
    with a fast WordPiece tokenizer to ``folder``; returns the folder."""
    import torch
    import transformers
    from transformers import BertConfig, BertForSequenceClassification

    fast = transformers.BertTokenizerFast  # type: ignore[attr-defined]  # a lazy export

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(vocabulary())}
    if "vocab_file" in inspect.signature(fast.__init__).parameters:  # transformers 4: a file only
        vocab_file = out / "vocab.txt"
        vocab_file.write_text("".join(f"{token}\n" for token in vocab), encoding="utf-8")
        tokenizer = fast(vocab_file=str(vocab_file), do_lower_case=True)
    else:  # transformers 5 takes the mapping (and ignores vocab_file)
        tokenizer = fast(vocab=vocab, do_lower_case=True)
    config = BertConfig(  # type: ignore[call-arg]  # num_labels: a PretrainedConfig keyword
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=64, num_labels=2,
    )  # fmt: skip
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def tiny_sentences(n: int, *, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` sentences, half acceptable (``the dog runs .``) and half scrambled (``runs dog the .``)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        words = [rng.choice(DETERMINERS), rng.choice(NOUNS), rng.choice(VERBS)]
        good = i % 2 == 0
        if not good:
            rng.shuffle(words)
            if words[0] in DETERMINERS and words[2] in VERBS:  # the shuffle kept the order
                words = [words[2], words[1], words[0]]
        texts.append(" ".join(words) + " .")
        labels.append(int(good))
    return texts, labels


def tiny_cola(folder: str | Path, *, train: int = 200, dev: int = 60, seed: int = 0) -> str:
    """Write a GLUE-layout CoLA folder (``train.tsv``, ``dev.tsv``; four columns, no header)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, n, s in (("train.tsv", train, seed), ("dev.tsv", dev, seed + 1)):
        texts, labels = tiny_sentences(n, seed=s)
        lines = [f"tiny\t{y}\t{'' if y else '*'}\t{t}\n" for t, y in zip(texts, labels, strict=True)]
        (out / name).write_text("".join(lines), encoding="utf-8")
    return str(out)


@functools.cache
def _example_folder() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="toolkit-text-check-")


@functools.cache
def _example_text_data(seed: int) -> Any:
    from toolkit.data.glue_cola import load

    folder = Path(_example_folder())
    model = (
        tiny_bert(folder / "tiny-bert") if not (folder / "tiny-bert").is_dir() else str(folder / "tiny-bert")
    )
    cola = (
        tiny_cola(folder / "cola", train=120, dev=40)
        if not (folder / "cola").is_dir()
        else str(folder / "cola")
    )
    return load(seed, tokenizer=model, root=cola)


def example_text_data(seed: int = 0) -> Any:
    """Text check data: the tiny CoLA tokenized by the tiny BERT (both written once per process
    to a temporary folder); the model to check with is ``hf_text`` on ``info.tokenizer``."""
    import copy

    return copy.deepcopy(_example_text_data(seed))
