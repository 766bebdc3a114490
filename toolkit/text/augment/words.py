"""Word deletion, word swaps and sentence shuffling: edits of a text's word order and content.

Three operations of the "easy data augmentation" of Wei & Zou, "EDA: Easy Data Augmentation
Techniques for Boosting Performance on Text Classification Tasks", EMNLP-IJCNLP 2019
(its fourth, synonym replacement, is :mod:`toolkit.text.augment.synonyms`):

- :class:`WordDelete` (``word_delete``, ``p = 0.1``): each word is deleted with probability
  ``p``, but never every word;
- :class:`WordSwap` (``word_swap``, ``n = 1``): ``n`` swaps of two random words;
- :class:`Shuffle` (``shuffle``, no parameters): a random permutation of the words.

Punctuation-only tokens are never deleted or moved.

Example:
    >>> import random
    >>> text = "john 's dog wo n't bite her ."
    >>> out = Shuffle().augment([text], random.Random(0))
    >>> sorted(out[0].split()) == sorted(text.split()), out[0].endswith(" .")
    (True, True)
    >>> WordDelete(p=1.0).augment([text, "hello !"], random.Random(0))
    ['dog .', 'hello !']
"""

from __future__ import annotations

import random

from toolkit.text.augment.base import WordAugmenter, at_least, is_punctuation, probability


def _movable(words: list[str]) -> list[int]:
    """The positions of the words that are not punctuation-only."""
    return [i for i, word in enumerate(words) if not is_punctuation(word)]


class WordDelete(WordAugmenter):
    """Random deletion of words (Wei & Zou, EMNLP 2019).

    Each word that is not punctuation is deleted with probability ``p``; when that would
    delete all of them, one (drawn at random) is kept.

    Args:
        p: the probability that a word is deleted.
    """

    name = "word_delete"

    def __init__(self, *, p: float = 0.1) -> None:
        self.p = probability("p", p)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        candidates = _movable(words)
        if not candidates:
            return list(words)
        dropped = {i for i in candidates if rng.random() < self.p}
        if len(dropped) == len(candidates):
            dropped.discard(rng.choice(candidates))
        return [word for i, word in enumerate(words) if i not in dropped]


class WordSwap(WordAugmenter):
    """Random swaps of two words (Wei & Zou, EMNLP 2019).

    ``n`` times, two different word positions drawn at random trade their words;
    punctuation stays where it is. A text with fewer than two words is unchanged.

    Args:
        n: the number of swaps per text.
    """

    name = "word_swap"

    def __init__(self, *, n: int = 1) -> None:
        self.n = at_least("n", n, 0)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        positions = _movable(words)
        out = list(words)
        if len(positions) < 2:
            return out
        for _ in range(self.n):
            i, j = rng.sample(positions, 2)
            out[i], out[j] = out[j], out[i]
        return out


class Shuffle(WordAugmenter):
    """Sentence-level shuffling: a random permutation of the words; punctuation stays in place."""

    name = "shuffle"

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        positions = _movable(words)
        order = list(positions)
        rng.shuffle(order)
        out = list(words)
        for target, source in zip(positions, order, strict=True):
            out[target] = words[source]
        return out
