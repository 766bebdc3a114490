"""Character noise and keyboard typos: small edits inside words.

The synthetic noise of Belinkov & Bisk, "Synthetic and Natural Noise Both Break Neural
Machine Translation", ICLR 2018:

- :class:`CharNoise` (``char_noise``, ``p = 0.1``, ``kinds`` = all of :data:`CHAR_EDITS`):
  each alphabetic word gets, with probability ``p``, one random insertion, deletion,
  substitution or swap of adjacent characters;
- :class:`KeyboardNoise` (``keyboard``, ``p = 0.1``): each word gets, with probability
  ``p``, one letter replaced by a QWERTY neighbour (:data:`QWERTY_NEIGHBOURS`).

Example:
    >>> import random
    >>> CharNoise(p=1.0, kinds=("delete",)).augment(["hello ."], random.Random(0))[0].endswith(" .")
    True
    >>> KeyboardNoise(p=0.0).augment(["hello"], random.Random(0))
    ['hello']
"""

from __future__ import annotations

import difflib
import random
import string

from toolkit.text.augment.base import AugmenterError, WordAugmenter, probability

#: The character edits of :class:`CharNoise`.
CHAR_EDITS: tuple[str, ...] = ("insert", "delete", "substitute", "swap")

#: The keys next to each letter on a QWERTY keyboard (same row, and the staggered rows above and below).
QWERTY_NEIGHBOURS: dict[str, str] = {
    "a": "qwsz",
    "b": "ghvn",
    "c": "dfxv",
    "d": "ersfxc",
    "e": "wrsd",
    "f": "rtdgcv",
    "g": "tyfhvb",
    "h": "yugjbn",
    "i": "uojk",
    "j": "uihknm",
    "k": "iojlm",
    "l": "opk",
    "m": "jkn",
    "n": "hjbm",
    "o": "ipkl",
    "p": "ol",
    "q": "wa",
    "r": "etdf",
    "s": "weadzx",
    "t": "ryfg",
    "u": "yihj",
    "v": "fgcb",
    "w": "qeas",
    "x": "sdzc",
    "y": "tugh",
    "z": "asx",
}

_LETTERS = string.ascii_lowercase


def _char_edit(word: str, kind: str, rng: random.Random) -> str:
    """One character edit of ``kind`` at a random position of ``word``."""
    if kind == "insert":
        i = rng.randint(0, len(word))
        c = rng.choice(_LETTERS)
        return word[:i] + (c.upper() if word.isupper() else c) + word[i:]
    if kind == "delete":
        if len(word) < 2:
            return word
        i = rng.randrange(len(word))
        return word[:i] + word[i + 1 :]
    if kind == "substitute":
        i = rng.randrange(len(word))
        c = rng.choice([x for x in _LETTERS if x != word[i].lower()])
        return word[:i] + (c.upper() if word[i].isupper() else c) + word[i + 1 :]
    spots = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]  # swap
    if not spots:
        return word
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


class CharNoise(WordAugmenter):
    """Random character edits (Belinkov & Bisk, ICLR 2018).

    Each alphabetic word (``str.isalpha``) gets, with probability ``p``, one edit of a kind
    drawn from ``kinds``: insert a letter a-z, delete a character (never in a one-letter
    word), substitute a letter a-z for a character, or swap two adjacent, different characters.

    Args:
        p: the probability that a word is edited.
        kinds: the edits to draw from, among ``"insert"``, ``"delete"``, ``"substitute"``, ``"swap"``.
    """

    name = "char_noise"

    def __init__(self, *, p: float = 0.1, kinds: tuple[str, ...] = CHAR_EDITS) -> None:
        self.p = probability("p", p)
        if isinstance(kinds, str) or not kinds:
            raise AugmenterError(f"kinds must be a non-empty list of edits among {', '.join(CHAR_EDITS)}")
        for kind in kinds:
            if kind not in CHAR_EDITS:
                close = difflib.get_close_matches(str(kind), CHAR_EDITS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise AugmenterError(f"unknown character edit {kind!r}{hint}; use {', '.join(CHAR_EDITS)}")
        self.kinds = tuple(kinds)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        out = list(words)
        for i, word in enumerate(words):
            if word.isalpha() and rng.random() < self.p:
                out[i] = _char_edit(word, rng.choice(self.kinds), rng)
        return out


class KeyboardNoise(WordAugmenter):
    """Keyboard typos: one letter replaced by a QWERTY neighbour (Belinkov & Bisk, ICLR 2018).

    Each word with a letter a-z gets, with probability ``p``, one such letter (at a random
    position) replaced by a random neighbour from :data:`QWERTY_NEIGHBOURS`, keeping its case.

    Args:
        p: the probability that a word gets a typo.
    """

    name = "keyboard"

    def __init__(self, *, p: float = 0.1) -> None:
        self.p = probability("p", p)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        out = list(words)
        for i, word in enumerate(words):
            spots = [j for j, c in enumerate(word) if c.lower() in QWERTY_NEIGHBOURS]
            if spots and rng.random() < self.p:
                j = rng.choice(spots)
                c = rng.choice(QWERTY_NEIGHBOURS[word[j].lower()])
                out[i] = word[:j] + (c.upper() if word[j].isupper() else c) + word[j + 1 :]
        return out
