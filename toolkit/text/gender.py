"""Gender-word swapping for counterfactual data augmentation (CDA).

Counterfactual data augmentation adds, for every training sentence, a copy in which
each gendered word is replaced by its counterpart of the other gender ("he" <-> "she",
"father" <-> "mother", "John" <-> "Mary"), so that a model sees both versions equally
often (Lu et al. 2018, "Gender Bias in Neural Natural Language Processing", arXiv
1807.11714; Zhao et al. 2018, "Gender Bias in Coreference Resolution: Evaluation and
Debiasing Methods", NAACL 2018). The same swap builds the counterfactual pairs on which
a model's gender sensitivity is measured.

The word lists are :data:`PAIRS`, the ``(male, female)`` pairs in lower case
(pronouns, kinship and other gendered nouns, titles, and common US first names), and
:data:`NAME_PAIRS`, the first-name pairs alone.

Rules of :func:`swap_gender`:

- A word is a maximal run of word characters (letters, digits, underscore), so only
  whole words change: "the", "sheriff", "shell", "manager", "human", "heritage" and
  "womanly" stay as they are, as do spacing, punctuation and every other word.
- Possessive clitics are separate from the word before them, so "John's" becomes
  "Mary's", "men's" becomes "women's", and the pre-tokenized lower-case CoLA format
  ("john 's dog wo n't bite her .") is handled like ordinary text.
- Case is kept: a lower-case word gets a lower-case counterpart, a capitalized one a
  capitalized one ("He" -> "She") and an all-caps one an all-caps one ("HE" -> "SHE").
- "his" and "him" both become "her"; "hers" becomes "his"; "herself" becomes
  "himself".
- "her" is ambiguous: it is a possessive determiner ("her dog" -> "his dog") or an
  object pronoun ("I saw her." -> "I saw him."). The heuristic reads the word after
  it: at the end of the text, before punctuation, or before a function word
  (prepositions, conjunctions, articles, pronouns, auxiliaries and a few adverbs such
  as "to", "and", "the", "very", "yesterday") "her" becomes "him"; before any other
  word or a number it becomes "his".

Limits: the heuristic has no part-of-speech tagger, so an object "her" before a noun
phrase without an article is read as possessive ("I gave her flowers" becomes "I gave
his flowers", not "I gave him flowers"), and so is one before a verb ("made her cry"
becomes "made his cry"); a possessive "her" before an adverb in the function-word
list is read as an object ("her very own book" becomes "him very own book").
Possessive "his" ("the book is his") becomes "her", not "hers". Names outside
:data:`NAME_PAIRS` and gendered words outside :data:`PAIRS` are left alone. Swapping is
deterministic; swapping twice gives back the original text when every "his" stands
before a noun, every "him" before a function word or punctuation, and the text holds
neither "her" nor "hers".

Example:
    >>> swap_gender("She said his dog bit him.")
    'He said her dog bit her.'
    >>> swap_gender("john 's sister wo n't call her .")
    "mary 's brother wo n't call him ."
    >>> gendered_words("The sheriff met HER father."), has_gender("the shell")
    (['her', 'father'], False)
"""

from __future__ import annotations

import re

NAME_PAIRS: tuple[tuple[str, str], ...] = (
    ("john", "mary"),
    ("james", "linda"),
    ("michael", "susan"),
    ("david", "sarah"),
    ("robert", "patricia"),
    ("william", "elizabeth"),
    ("richard", "jennifer"),
    ("joseph", "jessica"),
    ("thomas", "karen"),
    ("charles", "nancy"),
)
"""Common US first names, one ``(male, female)`` pair each, in lower case."""

_PRONOUN_PAIRS: tuple[tuple[str, str], ...] = (
    ("he", "she"),
    ("him", "her"),
    ("his", "her"),
    ("himself", "herself"),
)

_NOUN_PAIRS: tuple[tuple[str, str], ...] = (
    ("man", "woman"),
    ("men", "women"),
    ("boy", "girl"),
    ("boys", "girls"),
    ("father", "mother"),
    ("fathers", "mothers"),
    ("dad", "mom"),
    ("dads", "moms"),
    ("daddy", "mommy"),
    ("son", "daughter"),
    ("sons", "daughters"),
    ("brother", "sister"),
    ("brothers", "sisters"),
    ("husband", "wife"),
    ("husbands", "wives"),
    ("king", "queen"),
    ("kings", "queens"),
    ("prince", "princess"),
    ("princes", "princesses"),
    ("uncle", "aunt"),
    ("uncles", "aunts"),
    ("nephew", "niece"),
    ("nephews", "nieces"),
    ("grandfather", "grandmother"),
    ("grandfathers", "grandmothers"),
    ("grandson", "granddaughter"),
    ("grandsons", "granddaughters"),
    ("stepfather", "stepmother"),
    ("stepson", "stepdaughter"),
    ("boyfriend", "girlfriend"),
    ("boyfriends", "girlfriends"),
    ("groom", "bride"),
    ("grooms", "brides"),
    ("gentleman", "lady"),
    ("gentlemen", "ladies"),
    ("sir", "madam"),
    ("mr", "mrs"),
    ("male", "female"),
    ("males", "females"),
    ("actor", "actress"),
    ("actors", "actresses"),
    ("waiter", "waitress"),
    ("waiters", "waitresses"),
    ("businessman", "businesswoman"),
    ("businessmen", "businesswomen"),
    ("chairman", "chairwoman"),
    ("spokesman", "spokeswoman"),
    ("policeman", "policewoman"),
    ("policemen", "policewomen"),
    ("brotherhood", "sisterhood"),
    ("manhood", "womanhood"),
    ("masculine", "feminine"),
)

PAIRS: tuple[tuple[str, str], ...] = _PRONOUN_PAIRS + _NOUN_PAIRS + NAME_PAIRS
"""Every ``(male, female)`` pair in lower case: pronouns, nouns and :data:`NAME_PAIRS`."""

_AMBIGUOUS = "her"

# "her" before one of these (or before punctuation or the end of the text) is an object pronoun.
_FUNCTION_WORDS: frozenset[str] = frozenset(
    {"and", "or", "but", "nor", "yet", "so", "than", "as", "if", "when", "where", "because", "while"}
    | {"to", "in", "on", "at", "for", "with", "from", "by", "about", "into", "onto", "of", "off", "over"}
    | {"under", "up", "down", "out", "through", "across", "around", "against", "during", "without"}
    | {"within", "upon", "after", "before", "until", "since", "like"}
    | {"that", "which", "who", "whom", "whose", "what", "how", "why", "whether"}
    | {"the", "a", "an", "this", "these", "those", "all", "both", "each", "either", "neither"}
    | {"there", "here", "then", "now", "again", "too", "very", "also", "just", "only", "even", "still"}
    | {"already", "yesterday", "today", "tonight", "tomorrow", "always", "never", "ever", "once", "twice"}
    | {"i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them"}
    | {"his", "my", "your", "its", "our", "their", "myself", "himself", "herself", "themselves"}
    | {"is", "am", "are", "was", "were", "be", "been", "being", "will", "would", "can", "could"}
    | {"shall", "should", "may", "might", "must", "do", "does", "did", "has", "have", "had", "not"}
)

_MALE_TO_FEMALE: dict[str, str] = dict(PAIRS)
_FEMALE_TO_MALE: dict[str, str] = {f: m for m, f in PAIRS if f != _AMBIGUOUS}
_FEMALE_TO_MALE["hers"] = "his"
_SWAP: dict[str, str] = {**_MALE_TO_FEMALE, **_FEMALE_TO_MALE}
_GENDERED: frozenset[str] = frozenset(_SWAP) | {_AMBIGUOUS}

_WORD = re.compile(r"\w+")
_NEXT_WORD = re.compile(r"\s*(\w*)")


def _her_counterpart(text: str, end: int) -> str:
    """``"his"`` when the "her" ending at ``end`` reads as a possessive determiner, else ``"him"``."""
    found = _NEXT_WORD.match(text, end)
    following = found.group(1).lower() if found else ""
    if not following or following in _FUNCTION_WORDS:
        return "him"
    return "his"


def _match_case(source: str, target: str) -> str:
    """``target`` in the case of ``source``: all caps, capitalized, or as it is (lower case)."""
    if source.isupper():
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


def _swap_match(match: re.Match[str]) -> str:
    """The counterpart of one matched word, or the word itself when it is not gendered."""
    word = match.group(0)
    lower = word.lower()
    if lower == _AMBIGUOUS:
        return _match_case(word, _her_counterpart(match.string, match.end()))
    target = _SWAP.get(lower)
    return word if target is None else _match_case(word, target)


def swap_gender(text: str) -> str:
    """Replace every gendered word in ``text`` by its counterpart, keeping everything else.

    Args:
        text: ordinary text or pre-tokenized text (punctuation and clitics as tokens).

    Returns:
        The text with each word of :data:`PAIRS` (and "hers") swapped, case kept; see the
        module docstring for the rules and the "her" heuristic.

    Example:
        >>> swap_gender("HE thanked Mr Smith's wife.")
        "SHE thanked Mrs Smith's husband."
    """
    return _WORD.sub(_swap_match, text)


def gendered_words(text: str) -> list[str]:
    """The gendered words of ``text`` in lower case, in order and with repeats (for counting).

    Example:
        >>> gendered_words("He and his brother met Mary.")
        ['he', 'his', 'brother', 'mary']
    """
    return [word for word in (w.lower() for w in _WORD.findall(text)) if word in _GENDERED]


def has_gender(text: str) -> bool:
    """Whether ``text`` holds at least one gendered word.

    Example:
        >>> has_gender("The sheriff's shell."), has_gender("Ask her.")
        (False, True)
    """
    return any(word.lower() in _GENDERED for word in _WORD.findall(text))
