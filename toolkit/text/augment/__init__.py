"""Text augmenters at the character, word and sentence level, and the table of their names.

Each augmenter is a class with keyword-only parameters and one verb,
``augment(texts, rng) -> texts``: the same number of texts in the same order, a function of
the texts and the state of the :class:`random.Random` alone, so a seeded run is repeatable.
A text with nothing to change comes back unchanged (the very same string). Words are split
on whitespace; punctuation-only tokens are never edited, deleted or moved
(:mod:`~toolkit.text.augment.base`).

- :mod:`~toolkit.text.augment.chars`: character noise (:class:`CharNoise`) and keyboard
  typos (:class:`KeyboardNoise`), after Belinkov & Bisk, ICLR 2018.
- :mod:`~toolkit.text.augment.words`: word deletion (:class:`WordDelete`), word swaps
  (:class:`WordSwap`) and sentence shuffling (:class:`Shuffle`), after Wei & Zou, EMNLP 2019.
- :mod:`~toolkit.text.augment.synonyms`: synonym (:class:`Synonym`, Wei & Zou) and antonym
  (:class:`Antonym`, label-flipping) replacement from a JSON lexicon or WordNet.
- :mod:`~toolkit.text.augment.backtranslation`: paraphrases through a pivot language with
  two MarianMT models (:class:`BackTranslation`), after Sennrich et al., ACL 2016.

:data:`AUGMENTERS`, here and only here, maps each augmenter's name to its class, and
:func:`make_augmenter` builds one by name.

Example:
    >>> import random
    >>> text = "john 's dog wo n't bite her ."
    >>> make_augmenter("word_delete", p=0.0).augment([text], random.Random(0)) == [text]
    True
    >>> out = Shuffle().augment([text], random.Random(0))
    >>> sorted(out[0].split()) == sorted(text.split()), out[0].endswith(" .")
    (True, True)
    >>> WordDelete(p=1.0).augment([text, "hello !"], random.Random(0))
    ['dog .', 'hello !']
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from toolkit.text.augment.backtranslation import BackTranslation
from toolkit.text.augment.base import Augmenter, AugmenterError, is_punctuation
from toolkit.text.augment.chars import CHAR_EDITS, QWERTY_NEIGHBOURS, CharNoise, KeyboardNoise
from toolkit.text.augment.synonyms import Antonym, Synonym, load_lexicon
from toolkit.text.augment.words import Shuffle, WordDelete, WordSwap

#: Every augmenter by name.
AUGMENTERS: dict[str, type[Augmenter]] = {
    cls.name: cls
    for cls in (
        CharNoise,
        KeyboardNoise,
        WordDelete,
        WordSwap,
        Shuffle,
        Synonym,
        Antonym,
        BackTranslation,
    )
}


def make_augmenter(name: str, **params: Any) -> Augmenter:
    """Build the augmenter called ``name`` (a key of :data:`AUGMENTERS`) with ``params``.

    Raises:
        AugmenterError: a :class:`ValueError` for an unknown name (listing the known ones)
            or parameters the augmenter does not take.

    Example:
        >>> make_augmenter("word_swap", n=2)
        WordSwap(n=2)
    """
    key = name.strip().lower().replace("-", "_")
    cls = AUGMENTERS.get(key)
    if cls is None:
        close = difflib.get_close_matches(key, list(AUGMENTERS), n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise AugmenterError(f"unknown augmenter '{name}'.{hint} Known augmenters: {', '.join(AUGMENTERS)}")
    signature = inspect.signature(cls)
    try:
        signature.bind(**params)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters) or "none"
        raise AugmenterError(f"augmenter '{key}': {exc} (its parameters: {accepted})") from exc
    return cls(**params)


__all__ = [
    "AUGMENTERS",
    "CHAR_EDITS",
    "QWERTY_NEIGHBOURS",
    "Antonym",
    "Augmenter",
    "AugmenterError",
    "BackTranslation",
    "CharNoise",
    "KeyboardNoise",
    "Shuffle",
    "Synonym",
    "WordDelete",
    "WordSwap",
    "is_punctuation",
    "load_lexicon",
    "make_augmenter",
]
