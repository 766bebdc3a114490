"""Synonym and antonym replacement, from a JSON lexicon or from WordNet.

- :class:`Synonym` (``synonym``, ``p = 0.1``, ``lexicon = None``): the synonym replacement
  of Wei & Zou, "EDA: Easy Data Augmentation Techniques for Boosting Performance on Text
  Classification Tasks", EMNLP-IJCNLP 2019;
- :class:`Antonym` (``antonym``, same parameters): its label-flipping counterpart, for
  robustness checks rather than training (it warns so, and has ``flips_label = True``).

The replacements come from ``lexicon``, a JSON file mapping a word to a list of words
(:func:`load_lexicon`), else from WordNet through nltk (``pip install nltk`` and
``python -m nltk.downloader wordnet``); which source is checked when the augmenter is built.

Example:
    >>> import json, random, tempfile
    >>> path = tempfile.mktemp(suffix=".json")
    >>> with open(path, "w") as fh:
    ...     json.dump({"good": ["fine"]}, fh)
    >>> Synonym(p=1.0, lexicon=path).augment(["Good dog ."], random.Random(0))
    ['Fine dog .']
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from toolkit.errors import UsageError
from toolkit.text.augment.base import AugmenterError, WordAugmenter, is_punctuation, probability

_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _match_case(replacement: str, original: str) -> str:
    """``replacement`` with a capital first letter where ``original`` has one."""
    if original[:1].isupper() and replacement:
        return replacement[0].upper() + replacement[1:]
    return replacement


def load_lexicon(path: str | Path) -> dict[str, list[str]]:
    """Read a JSON lexicon: an object mapping a word to a list of replacement words.

    Raises:
        AugmenterError: a :class:`ValueError` naming the file when it cannot be read or is
            not a JSON object of string -> list of strings.
    """
    file = Path(path)
    example = 'e.g. {"good": ["fine", "nice"]}'
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AugmenterError(f"lexicon {file}: cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise AugmenterError(f"lexicon {file}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise AugmenterError(f"lexicon {file}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), "null")
        raise AugmenterError(
            f"lexicon {file}: must be a JSON object mapping a word to a list of words ({example}), "
            f"not a JSON {kind}"
        )
    for word, replacements in data.items():
        if not isinstance(replacements, list) or not all(isinstance(r, str) for r in replacements):
            raise AugmenterError(
                f"lexicon {file}: the entry for {word!r} must be a list of strings ({example}), "
                f"got {json.dumps(replacements)[:60]}"
            )
    return data


def _wordnet_lookup(relation: str) -> Callable[[str], list[str]]:
    """A lookup of WordNet synonyms or antonyms through nltk; a clear error when either is missing."""
    fix = f"or pass lexicon = the path of a JSON file mapping a word to a list of {relation}s"
    try:
        from nltk.corpus import wordnet
    except ImportError as exc:
        raise UsageError(
            f"{relation} replacement without a lexicon needs nltk and its WordNet data: "
            f"pip install nltk, then python -m nltk.downloader wordnet; {fix}"
        ) from exc
    try:
        wordnet.ensure_loaded()
    except (LookupError, OSError) as exc:
        raise UsageError(
            f"{relation} replacement without a lexicon needs the WordNet data of nltk, which is not "
            f"installed: python -m nltk.downloader wordnet; {fix}"
        ) from exc

    def synonyms(word: str) -> list[str]:
        return [lemma.name() for synset in wordnet.synsets(word) for lemma in synset.lemmas()]

    def antonyms(word: str) -> list[str]:
        return [
            antonym.name()
            for synset in wordnet.synsets(word)
            for lemma in synset.lemmas()
            if lemma.name().lower() == word
            for antonym in lemma.antonyms()
        ]

    return synonyms if relation == "synonym" else antonyms


class _LexiconAugmenter(WordAugmenter):
    """Replaces words, each with probability ``p``, by one of their entries in a lexicon."""

    relation: ClassVar[str] = "synonym"

    def __init__(self, *, p: float = 0.1, lexicon: str | None = None) -> None:
        self.p = probability("p", p)
        self.lexicon = lexicon
        self._cache: dict[str, list[str]] = {}
        self._lookup: Callable[[str], list[str]]
        if lexicon is not None:
            table = load_lexicon(lexicon)
            self._lookup = lambda word: table.get(word, table.get(word.lower(), []))
        else:  # from WordNet: words in lower case, multi-word lemmas joined by "_"
            wordnet = _wordnet_lookup(self.relation)
            self._lookup = lambda word: [w.replace("_", " ") for w in wordnet(word.lower())]

    def replacements(self, word: str) -> list[str]:
        """The distinct replacements of ``word`` (never ``word`` itself), in lexicon order."""
        if word not in self._cache:
            seen = {word.lower()}
            found: list[str] = []
            for candidate in self._lookup(word):
                text = " ".join(candidate.split())
                if text and text.lower() not in seen:
                    seen.add(text.lower())
                    found.append(text)
            self._cache[word] = found
        return self._cache[word]

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        out: list[str] = []
        for word in words:
            options = [] if is_punctuation(word) else self.replacements(word)
            if options and rng.random() < self.p:
                out.extend(_match_case(rng.choice(options), word).split())
            else:
                out.append(word)
        return out


class Synonym(_LexiconAugmenter):
    """Synonym replacement (Wei & Zou, EMNLP 2019).

    Each word that has synonyms is replaced, with probability ``p``, by one drawn at random
    (a multi-word synonym adds words). The synonyms come from ``lexicon``, else from WordNet
    through nltk; which source is checked when the augmenter is built.

    Args:
        p: the probability that a word with synonyms is replaced.
        lexicon: the path of a JSON file mapping a word to a list of synonyms; ``None`` for
            WordNet (needs ``pip install nltk`` and ``python -m nltk.downloader wordnet``).

    Raises:
        AugmenterError: a ``lexicon`` file that is not a JSON object of string -> list of strings.
        UsageError: no ``lexicon`` and no nltk or no WordNet data.
    """

    name = "synonym"
    relation = "synonym"


class Antonym(_LexiconAugmenter):
    """Antonym replacement: each word that has antonyms is replaced, with probability ``p``, by one.

    An antonym can flip the label (of sentiment, entailment or acceptability): the augmenter
    warns so when it is built and has ``flips_label = True``. Sources and errors as
    :class:`Synonym`.

    Args:
        p: the probability that a word with antonyms is replaced.
        lexicon: the path of a JSON file mapping a word to a list of antonyms; ``None`` for WordNet.
    """

    name = "antonym"
    relation = "antonym"
    flips_label = True

    def __init__(self, *, p: float = 0.1, lexicon: str | None = None) -> None:
        super().__init__(p=p, lexicon=lexicon)
        warnings.warn(
            "antonym replacement can flip the label of a text (e.g. for sentiment or acceptability): "
            "do not train on its outputs with the original labels",
            UserWarning,
            stacklevel=2,
        )
