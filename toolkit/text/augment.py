"""Text augmenters at the character, word and sentence level.

Each augmenter is a class with keyword-only parameters and one verb,
``augment(texts, rng) -> texts``: the same number of texts in the same order, a function of
the texts and the state of the :class:`random.Random` alone, so a seeded run is repeatable.
A text with nothing to change comes back unchanged (the very same string).

Words are split on whitespace and joined again with single spaces, which suits
pre-tokenized corpora such as CoLA (``"john 's dog wo n't bite her ."``). Punctuation-only
tokens are never edited, deleted or moved.

- Character noise (:class:`CharNoise`, :class:`KeyboardNoise`): random insertions,
  deletions, substitutions and swaps, or typos with a QWERTY neighbour, the synthetic noise
  of Belinkov & Bisk, "Synthetic and Natural Noise Both Break Neural Machine Translation",
  ICLR 2018.
- Word operations (:class:`WordDelete`, :class:`WordSwap`, :class:`Synonym`) and sentence
  shuffling (:class:`Shuffle`): the "easy data augmentation" of Wei & Zou, "EDA: Easy Data
  Augmentation Techniques for Boosting Performance on Text Classification Tasks",
  EMNLP-IJCNLP 2019. :class:`Antonym` is its label-flipping counterpart, for robustness
  checks rather than training.
- :class:`BackTranslation`: paraphrases through a pivot language with two MarianMT models,
  after Sennrich, Haddow & Birch, "Improving Neural Machine Translation Models with
  Monolingual Data", ACL 2016.

:data:`AUGMENTERS` maps each augmenter's name to its class and :func:`make_augmenter` builds
one by name.

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
import importlib.util
import inspect
import json
import random
import string
import unicodedata
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from toolkit.errors import UsageError

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
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


class AugmenterError(UsageError, ValueError):
    """A bad augmenter name, parameter or lexicon file (a :class:`ValueError` too)."""


def _probability(name: str, value: float) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        raise AugmenterError(f"{name} must be a probability between 0 and 1, got {value!r}")
    return p


def _at_least(name: str, value: int, low: int) -> int:
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


def _match_case(replacement: str, original: str) -> str:
    """``replacement`` with a capital first letter where ``original`` has one."""
    if original[:1].isupper() and replacement:
        return replacement[0].upper() + replacement[1:]
    return replacement


class Augmenter:
    """Base class of the augmenters: ``augment`` maps each text through ``_augment_text``."""

    #: The augmenter's key in :data:`AUGMENTERS`.
    name: ClassVar[str] = ""
    #: Whether an augmented text may need a different label (only :class:`Antonym`).
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


class _WordAugmenter(Augmenter):
    """An augmenter that edits the whitespace-separated words of each text."""

    def _augment_text(self, text: str, rng: random.Random) -> str:
        words = text.split()
        new = self._augment_words(words, rng)
        return text if new == words else " ".join(new)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        raise NotImplementedError


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


class CharNoise(_WordAugmenter):
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
        self.p = _probability("p", p)
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


class KeyboardNoise(_WordAugmenter):
    """Keyboard typos: one letter replaced by a QWERTY neighbour (Belinkov & Bisk, ICLR 2018).

    Each word with a letter a-z gets, with probability ``p``, one such letter (at a random
    position) replaced by a random neighbour from :data:`QWERTY_NEIGHBOURS`, keeping its case.

    Args:
        p: the probability that a word gets a typo.
    """

    name = "keyboard"

    def __init__(self, *, p: float = 0.1) -> None:
        self.p = _probability("p", p)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        out = list(words)
        for i, word in enumerate(words):
            spots = [j for j, c in enumerate(word) if c.lower() in QWERTY_NEIGHBOURS]
            if spots and rng.random() < self.p:
                j = rng.choice(spots)
                c = rng.choice(QWERTY_NEIGHBOURS[word[j].lower()])
                out[i] = word[:j] + (c.upper() if word[j].isupper() else c) + word[j + 1 :]
        return out


def _movable(words: list[str]) -> list[int]:
    """The positions of the words that are not punctuation-only."""
    return [i for i, word in enumerate(words) if not is_punctuation(word)]


class WordDelete(_WordAugmenter):
    """Random deletion of words (Wei & Zou, EMNLP 2019).

    Each word that is not punctuation is deleted with probability ``p``; when that would
    delete all of them, one (drawn at random) is kept.

    Args:
        p: the probability that a word is deleted.
    """

    name = "word_delete"

    def __init__(self, *, p: float = 0.1) -> None:
        self.p = _probability("p", p)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        candidates = _movable(words)
        if not candidates:
            return list(words)
        dropped = {i for i in candidates if rng.random() < self.p}
        if len(dropped) == len(candidates):
            dropped.discard(rng.choice(candidates))
        return [word for i, word in enumerate(words) if i not in dropped]


class WordSwap(_WordAugmenter):
    """Random swaps of two words (Wei & Zou, EMNLP 2019).

    ``n`` times, two different word positions drawn at random trade their words;
    punctuation stays where it is. A text with fewer than two words is unchanged.

    Args:
        n: the number of swaps per text.
    """

    name = "word_swap"

    def __init__(self, *, n: int = 1) -> None:
        self.n = _at_least("n", n, 0)

    def _augment_words(self, words: list[str], rng: random.Random) -> list[str]:
        positions = _movable(words)
        out = list(words)
        if len(positions) < 2:
            return out
        for _ in range(self.n):
            i, j = rng.sample(positions, 2)
            out[i], out[j] = out[j], out[i]
        return out


class Shuffle(_WordAugmenter):
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


class _LexiconAugmenter(_WordAugmenter):
    """Replaces words, each with probability ``p``, by one of their entries in a lexicon."""

    relation: ClassVar[str] = "synonym"

    def __init__(self, *, p: float = 0.1, lexicon: str | None = None) -> None:
        self.p = _probability("p", p)
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


class BackTranslation(Augmenter):
    """Paraphrases by translating to a pivot language and back (Sennrich et al., ACL 2016).

    Two sequence-to-sequence checkpoints (MarianMT by default, loaded with the transformers
    Auto classes) are loaded on first use. Decoding is greedy (``num_beams = 1``) or beam
    search, in batches under ``torch.inference_mode``, so the result does not depend on
    ``rng``. Blank texts, and texts whose round trip comes back empty, are unchanged. The
    output is whatever the backward model writes (usually cased, detokenized text).

    Args:
        forward: the checkpoint (a Hugging Face Hub name or a local folder) into the pivot language.
        backward: the checkpoint from the pivot language back.
        allow_download: fetch checkpoints that are not in the local Hugging Face cache
            (default false: local files only, no network).
        batch_size: texts translated at once.
        max_length: the longest input and output, in tokens (longer inputs are truncated).
        num_beams: 1 for greedy decoding, more for beam search.
        device: the torch device that runs the models.
    """

    name = "back_translation"

    def __init__(
        self,
        *,
        forward: str = "Helsinki-NLP/opus-mt-en-de",
        backward: str = "Helsinki-NLP/opus-mt-de-en",
        allow_download: bool = False,
        batch_size: int = 16,
        max_length: int = 128,
        num_beams: int = 1,
        device: str = "cpu",
    ) -> None:
        self.forward = str(forward)
        self.backward = str(backward)
        self.allow_download = bool(allow_download)
        self.batch_size = _at_least("batch_size", batch_size, 1)
        self.max_length = _at_least("max_length", max_length, 1)
        self.num_beams = _at_least("num_beams", num_beams, 1)
        self.device = str(device)
        self._models: dict[str, tuple[Any, Any]] = {}

    def augment(self, texts: list[str], rng: random.Random) -> list[str]:
        """Back-translate each of ``texts`` (``rng`` is not used: decoding is deterministic)."""
        todo = [i for i, text in enumerate(texts) if text.strip()]
        out = list(texts)
        if not todo:
            return out
        pivot = self.translate([texts[i] for i in todo], self.forward)
        for i, text in zip(todo, self.translate(pivot, self.backward), strict=True):
            if text.strip():
                out[i] = text
        return out

    def translate(self, texts: list[str], checkpoint: str) -> list[str]:
        """Translate ``texts`` with ``checkpoint``, in batches of texts of similar length."""
        import torch

        tokenizer, model = self._load(checkpoint)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = [""] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                inputs = tokenizer(
                    [texts[i] for i in batch],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                ).to(self.device)
                generated = model.generate(
                    **inputs, max_length=self.max_length, num_beams=self.num_beams, do_sample=False
                )
                decoded = tokenizer.batch_decode(generated, skip_special_tokens=True)
                for i, text in zip(batch, decoded, strict=True):
                    out[i] = " ".join(text.split())
        return out

    def _load(self, checkpoint: str) -> tuple[Any, Any]:
        """The tokenizer and model of ``checkpoint``, loaded once; a clear error when missing."""
        if checkpoint in self._models:
            return self._models[checkpoint]
        try:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:
            raise UsageError(
                "back_translation needs transformers: pip install 'trustworthy-ml-toolkit[text]'"
            ) from exc
        local = not self.allow_download
        try:
            tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=local)
            model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint, local_files_only=local)
        except (OSError, ValueError, ImportError) as exc:
            raise UsageError(_load_failure(checkpoint, local, exc)) from exc
        model.to(self.device).eval()
        self._models[checkpoint] = (tokenizer, model)
        return tokenizer, model


def _load_failure(checkpoint: str, local: bool, exc: BaseException) -> str:
    """The message for a translation checkpoint that could not be loaded."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"back_translation: cannot load the translation model '{checkpoint}' ({reason})."
    if local:
        message += (
            " It is not a local folder nor in the local Hugging Face cache, and downloads are off: "
            "set allow_download = true when online to fetch it once, or give the path of a local "
            "folder that holds the model and its tokenizer."
        )
    else:
        message += " Check the name on the Hugging Face Hub and the connection, or give a local folder."
    if importlib.util.find_spec("sentencepiece") is None:
        message += " MarianMT tokenizers also need sentencepiece: pip install sentencepiece."
    return message


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
