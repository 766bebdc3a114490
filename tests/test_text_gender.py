"""Gender-word swapping for counterfactual data augmentation: toolkit.text.gender."""

from __future__ import annotations

import pytest

from toolkit.text.gender import NAME_PAIRS, PAIRS, gendered_words, has_gender, swap_gender


def test_pairs_are_lower_case_and_unambiguous_but_for_her() -> None:
    males = [m for m, _ in PAIRS]
    females = [f for _, f in PAIRS if f != "her"]
    for word in males + females:
        assert word == word.lower() and word.isalpha()
    assert len(set(males)) == len(males)
    assert len(set(females)) == len(females)
    assert not set(males) & set(females)
    assert [f for _, f in PAIRS].count("her") == 2  # him and his


def test_name_pairs_are_a_subset_of_pairs() -> None:
    assert len(NAME_PAIRS) >= 10
    assert set(NAME_PAIRS) <= set(PAIRS)
    assert ("john", "mary") in NAME_PAIRS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("he", "she"),
        ("He", "She"),
        ("HE", "SHE"),
        ("she", "he"),
        ("She", "He"),
        ("SHE", "HE"),
        ("father", "mother"),
        ("Father", "Mother"),
        ("FATHER", "MOTHER"),
        ("Mr", "Mrs"),
        ("MRS", "MR"),
        ("John", "Mary"),
        ("JOHN", "MARY"),
        ("mary", "john"),
    ],
)
def test_case_is_kept(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She said his dog bit him.", "He said her dog bit her."),
        ("The king and his sons left.", "The queen and her daughters left."),
        ("  He   waited,\tthen left!\n", "  She   waited,\tthen left!\n"),
        ("Is he here? Yes -- he is.", "Is she here? Yes -- she is."),
        ("My uncle's wife is a lady.", "My aunt's husband is a gentleman."),
        ("Girls and boys, ladies and gentlemen.", "Boys and girls, gentlemen and ladies."),
        ("A step-father.", "A step-mother."),
    ],
)
def test_ordinary_text(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("John's dog", "Mary's dog"),
        ("JOHN'S DOG", "MARY'S DOG"),
        ("john 's dog", "mary 's dog"),
        ("the men's room", "the women's room"),
        ("the women's room", "the men's room"),
        ("my brother's car", "my sister's car"),
    ],
)
def test_possessives(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("her dog barked.", "his dog barked."),
        ("Her dog barked.", "His dog barked."),
        ("HER DOG BARKED.", "HIS DOG BARKED."),
        ("I met her husband.", "I met his wife."),
        ("She lost her own keys.", "He lost his own keys."),
        ("her 3 cats", "his 3 cats"),
        ("I gave her flowers.", "I gave his flowers."),  # the documented limit
    ],
)
def test_her_before_a_noun_becomes_his(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I saw her", "I saw him"),
        ("I saw her.", "I saw him."),
        ("I saw her, then left.", "I saw him, then left."),
        ('He asked "did you see her?"', 'She asked "did you see him?"'),
        ("I gave it to her and left.", "I gave it to him and left."),
        ("I waited for her at the door.", "I waited for him at the door."),
        ("I saw her yesterday.", "I saw him yesterday."),
        ("I told her the news.", "I told him the news."),
        ("I told her he was late.", "I told him she was late."),
        ("Give HER a hand.", "Give HIM a hand."),
        ("I saw her\n", "I saw him\n"),
    ],
)
def test_her_as_object_becomes_him(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The book is hers.", "The book is his."),
        ("Hers is red.", "His is red."),
        ("She hurt herself.", "He hurt himself."),
        ("HE HURT HIMSELF.", "SHE HURT HERSELF."),
        ("He hurt himself.", "She hurt herself."),
    ],
)
def test_hers_and_reflexives(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the sheriff checked the shell",
        "The heritage manager is human.",
        "a womanly and manly hero",
        "Hello there, theme others",
        "she2 he_said",
        "johnson and maryland",
        "",
        "...",
    ],
)
def test_words_with_gendered_substrings_are_unchanged(text: str) -> None:
    assert swap_gender(text) == text
    assert not has_gender(text)
    assert gendered_words(text) == []


def test_woman_swaps_but_womanly_does_not() -> None:
    assert swap_gender("a woman, womanly") == "a man, womanly"


@pytest.mark.parametrize(
    "text",
    [
        "He said his dog bit him.",
        "She said her dog bit her.",
        "The king told his son that the queen loved him.",
        "John and Mary met their uncles and aunts.",
        "MR SMITH'S WIFE SAW HIM TODAY.",
        "david 's brother wo n't call him .",
        "Her father asked him to leave with his sister.",
    ],
)
def test_round_trip_for_unambiguous_sentences(text: str) -> None:
    swapped = swap_gender(text)
    assert swapped != text
    assert swap_gender(swapped) == text


@pytest.mark.parametrize(("male", "female"), NAME_PAIRS)
def test_name_pairs_swap_both_ways(male: str, female: str) -> None:
    assert swap_gender(f"{male.title()} met {female.title()}.") == f"{female.title()} met {male.title()}."
    assert swap_gender(f"{male} 's car") == f"{female} 's car"
    assert swap_gender(f"{female} 's car") == f"{male} 's car"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john 's dog wo n't bite her .", "mary 's dog wo n't bite him ."),
        ("she gave her book to him .", "he gave his book to her ."),
        ("the men 's room is closed .", "the women 's room is closed ."),
        ("he thinks that she likes herself .", "she thinks that he likes himself ."),
        ("i saw her , and then i left .", "i saw him , and then i left ."),
        ("mary 's father did n't leave .", "john 's mother did n't leave ."),
    ],
)
def test_cola_tokenized_format(text: str, expected: str) -> None:
    assert swap_gender(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He said his dog bit him.", ["he", "his", "him"]),
        ("HER father's sister and Mary.", ["her", "father", "sister", "mary"]),
        ("john 's dog wo n't bite her .", ["john", "her"]),
        ("The book is hers, not his.", ["hers", "his"]),
        ("he and he and she", ["he", "he", "she"]),
        ("The sheriff's shell.", []),
    ],
)
def test_gendered_words(text: str, expected: list[str]) -> None:
    assert gendered_words(text) == expected
    assert has_gender(text) is bool(expected)


def test_every_pair_word_is_found_and_swapped() -> None:
    for male, female in PAIRS:
        assert has_gender(male) and has_gender(female)
        assert gendered_words(f"{male} {female}") == [male, female]
        assert swap_gender(female + " cat") in {male + " cat", "his cat"}
        assert swap_gender(male + " .") in {female + " .", "her ."}
