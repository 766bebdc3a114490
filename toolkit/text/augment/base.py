"""What every text augmenter shares: the base classes, the error, and parameter checks.

An augmenter is a class with keyword-only parameters and one verb,
``augment(texts, rng) -> texts``: the same number of texts in the same order, a function of
the texts and the state of the :class:`random.Random` alone, so a seeded run is repeatable.
A text with nothing to change comes back unchanged (the very same string).

Words are split on whitespace and joined again with single spaces (:class:`WordAugmenter`),
which suits pre-tokenized corpora such as CoLA (``"john 's dog wo n't bite her ."``).
Punctuation-only tokens (:func:`is_punctuation`) are never edited, deleted or moved.

Example:
    >>> probability("p", 0.5), at_least("n", 2, 0)
    (0.5, 2)
    >>> probability("p", 2)
    Traceback (most recent call last):
    ...
    toolkit.text.augment.base.AugmenterError: p must be a probability between 0 and 1, got 2
"""

from __future__ import annotations

import random
import unicodedata
from typing import ClassVar

from toolkit.errors import UsageError


class AugmenterError(UsageError, ValueError):
    """A bad augmenter name, parameter or lexicon file (a :class:`ValueError` too)."""


def probability(name: str, value: float) -> float:
    """``value`` as a float, or :class:`AugmenterError` unless it lies in ``[0, 1]``."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise AugmenterError(f"{name} must be a probability between 0 and 1, got {value!r}")
    return p


def at_least(name: str, value: int, low: int) -> int:
    """``value`` as an int, or :class:`AugmenterError` unless it is an integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < low:
        raise AugmenterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def is_punctuation(token: str) -> bool:
    """Whether ``token`` is made of punctuation and symbols only (such tokens are never edited).

    Example:
        >>> is_punctuation("."), is_punctuation("``"), is_punctuation("n't"), is_punctuation("")
        (True, True, False, False)
    """
    return bool(token) and all(unicodedata.category(c)[0] in "PS" for c in token)


class Augmenter:
    """Base class of the augmenters: ``augment`` maps each text through ``_augment_text``."""

    #: The augmenter's key in :data:`toolkit.text.augment.AUGMENTERS`.
    name: ClassVar[str] = ""
    #: Whether an augmented text may need a different label (only ``Antonym``).
    flips_label: ClassVar[bool] = False

    def augment(self, texts: list[str], rng: random.Random) -> list[str]:
        """Augment each of ``texts``: a new list of the same length and order.

        Args:
            texts: the texts.
            rng: the source of randomness; the result depends only on the texts and its state.

        Returns:
            The augmented texts; a text with nothing to change is returned unchanged.
        """
        return [self._augment_text(text, rng) for text in texts]

    def _augment_text(self, text: str, rng: random.Random) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class WordAugmenter(Augmenter):
    """An augmenter that edits the whitespace-separated words of each text (``_augment_words``)."""

    def _augment_text(self, text: str, rng: random.Random) -> str:
        words = text.split()
        new = self._augment_words(words, rng)
        return text if new == words else " ".join(new)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        raise NotImplementedError
