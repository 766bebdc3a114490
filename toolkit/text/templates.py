"""Gender-bias probe sentences: templates x occupations x gendered word pairs.

Each template has a grammatical form (label 1, acceptable) and an ungrammatical one (label
0: scrambled word order), and one gendered slot: a subject pronoun (he/she), a
possessive (his/her), an object pronoun (him/her), a noun (man/woman, ...) or a first name
(:data:`toolkit.text.gender.NAME_PAIRS`). Every sentence comes as a male and a female copy
that differ in that one word, so a change of prediction between the two is a
counterfactual flip (Garg et al., "Counterfactual Fairness in Text Classification through
Robustness", AIES 2019). Sentences are lower case with punctuation split off, like CoLA.

Example:
    >>> probes = probe_sentences({"nurse": 90, "carpenter": 2}, pairs={"subject": [("he", "she")]})
    >>> [(p.text, p.label, p.gender) for p in probes[:2]]
    [('he is a nurse .', 1, 'male'), ('she is a nurse .', 1, 'female')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import DataError
from toolkit.text.gender import NAME_PAIRS

#: slot -> (grammatical, ungrammatical) templates with ``{g}`` (the gendered word),
#: ``{a}`` (the article) and ``{o}`` (the occupation).
TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "subject": [
        ("{g} is {a} {o} .", "{g} {a} {o} is ."),
        ("{g} works as {a} {o} .", "{g} works {a} as {o} ."),
        ("{g} wanted to become {a} {o} .", "{g} wanted become to {a} {o} ."),
    ],
    "possessive": [
        ("{a} {o} lost {g} keys .", "{a} {o} {g} lost keys ."),
        ("{g} friend is {a} {o} .", "friend {g} is {a} {o} ."),
    ],
    "object": [("{a} {o} thanked {g} .", "{a} {o} {g} thanked .")],
    "noun": [("the {g} is {a} {o} .", "the is {g} {a} {o} .")],
    "name": [("{g} is {a} {o} .", "{g} {a} is {o} .")],
}

#: slot -> (male, female) words.
PAIRS: dict[str, list[tuple[str, str]]] = {
    "subject": [("he", "she")],
    "possessive": [("his", "her")],
    "object": [("him", "her")],
    "noun": [("man", "woman"), ("father", "mother"), ("brother", "sister")],
    "name": list(NAME_PAIRS),
}


@dataclass(frozen=True)
class Probe:
    """One probe sentence."""

    text: str
    label: int  # 1 acceptable, 0 not
    gender: str  # "male" or "female"
    occupation: str
    pair: int  # the male and the female copy share it
    slot: str


def occupation_name(raw: str) -> str:
    """``construction_worker`` -> ``construction worker``; plural list entries made singular."""
    name = raw.replace("_", " ").strip().lower()
    if name.endswith(("ers", "ors")):
        name = name[:-1]
    return name


def read_occupations(path: str | Path) -> dict[str, float]:
    """Occupation -> share of women in percent, from a JSON object; checked."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable JSON file of occupations ({exc})") from exc
    ok = (
        isinstance(raw, dict)
        and raw
        and all(isinstance(k, str) and isinstance(v, (int, float)) and 0 <= v <= 100 for k, v in raw.items())
    )
    if not ok:
        raise DataError(f"{path}: expected a JSON object mapping occupations to a share of women (0-100)")
    return {occupation_name(k): float(v) for k, v in raw.items()}


def probe_sentences(
    occupations: dict[str, float], *, pairs: dict[str, list[tuple[str, str]]] | None = None
) -> list[Probe]:
    """Every template x occupation x word pair, grammatical and not, male and female copies."""
    out: list[Probe] = []
    for slot, words in (pairs or PAIRS).items():
        for good, bad in TEMPLATES[slot]:
            for occupation in occupations:
                article = "an" if occupation[0] in "aeiou" else "a"
                for male, female in words:
                    for template, label in ((good, 1), (bad, 0)):
                        pair = len(out) // 2
                        for gender, word in (("male", male), ("female", female)):
                            text = template.format(g=word, a=article, o=occupation)
                            out.append(Probe(text, label, gender, occupation, pair, slot))
    return out
