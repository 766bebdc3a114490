"""Text augmenters: determinism, shapes, punctuation, lexicons, WordNet and back-translation."""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import needs

from toolkit.errors import UsageError
from toolkit.text.augment import (
    AUGMENTERS,
    CHAR_EDITS,
    QWERTY_NEIGHBOURS,
    Antonym,
    Augmenter,
    AugmenterError,
    BackTranslation,
    CharNoise,
    KeyboardNoise,
    Shuffle,
    Synonym,
    WordDelete,
    WordSwap,
    is_punctuation,
    make_augmenter,
)

TEXTS = [
    "john 's dog wo n't bite her .",
    "the more you eat , the less you want .",
    "mary thinks that bill left , but sue does n't !",
    "who did you say that left ?",
    "the cat sat on the mat .",
    "",
    ".",
]

LEXICON = {"good": ["fine", "nice day"], "bad": ["poor"], "cat": ["feline"], "dog": ["hound", "pup"]}
ANTONYMS = {"good": ["bad"], "left": ["right"], "more": ["less"]}

# The random augmenters, each set to change (nearly) every text that can change.
RANDOM: dict[str, Callable[[], Augmenter]] = {
    "char_noise": lambda: CharNoise(p=0.5),
    "keyboard": lambda: KeyboardNoise(p=0.5),
    "word_delete": lambda: WordDelete(p=0.3),
    "word_swap": lambda: WordSwap(n=2),
    "shuffle": Shuffle,
}


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def punctuation_of(text: str) -> list[str]:
    return [w for w in text.split() if is_punctuation(w)]


def run(aug: Augmenter, texts: list[str], seed: int) -> list[str]:
    return aug.augment(list(texts), random.Random(seed))


# --- the shared contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_deterministic_given_the_seed_and_varies_with_it(name: str) -> None:
    aug = RANDOM[name]()
    first = run(aug, TEXTS * 3, seed=0)
    assert first == run(aug, TEXTS * 3, seed=0)
    assert first == run(RANDOM[name](), TEXTS * 3, seed=0)  # a fresh instance: no hidden state
    assert first != run(aug, TEXTS * 3, seed=1)
    assert first != TEXTS * 3


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_length_order_and_punctuation_are_kept(name: str) -> None:
    texts = TEXTS * 4
    out = run(RANDOM[name](), texts, seed=3)
    assert len(out) == len(texts) and all(isinstance(t, str) for t in out)
    for before, after in zip(texts, out, strict=True):
        assert punctuation_of(after) == punctuation_of(before)
        if not before.split() or before == ".":
            assert after == before
        if name != "word_delete":  # same number of words, punctuation at the same places
            assert len(after.split()) == len(before.split())
            for a, b in zip(before.split(), after.split(), strict=True):
                assert is_punctuation(a) == is_punctuation(b)
                if is_punctuation(a):
                    assert a == b
        if name in ("word_swap", "shuffle"):  # order kept: each output is a rearrangement of its own input
            assert sorted(after.split()) == sorted(before.split())
        if name == "word_delete":
            assert set(after.split()) <= set(before.split())


@pytest.mark.parametrize(
    "aug",
    [CharNoise(p=0.0), KeyboardNoise(p=0.0), WordDelete(p=0.0), WordSwap(n=0)],
    ids=["char_noise", "keyboard", "word_delete", "word_swap"],
)
def test_nothing_to_change_returns_the_text_unchanged(aug: Augmenter) -> None:
    texts = [*TEXTS, "  two   spaces  ", "x"]
    out = run(aug, texts, seed=0)
    assert out == texts
    assert all(a is b for a, b in zip(out, texts, strict=True))


def test_single_word_and_punctuation_only_texts_are_unchanged_by_word_operations() -> None:
    texts = ["hello", "hello !", "? !", "  "]
    for aug in (WordDelete(p=1.0), WordSwap(n=3), Shuffle()):
        assert run(aug, texts, seed=0) == texts


def test_flips_label_only_for_antonyms(tmp_path: Path) -> None:
    for cls in AUGMENTERS.values():
        assert cls.flips_label is (cls is Antonym)
    with pytest.warns(UserWarning):
        assert Antonym(lexicon=write_json(tmp_path / "a.json", ANTONYMS)).flips_label is True


# --- character noise -------------------------------------------------------------------------------


def test_char_noise_each_kind_makes_one_edit_of_that_kind() -> None:
    words = ["john", "dog", "wo", "bite", "her", "mississippi", "a"]
    text = " ".join(words)
    for kind in CHAR_EDITS:
        for seed in range(5):
            (out,) = run(CharNoise(p=1.0, kinds=(kind,)), [text], seed)
            for before, after in zip(words, out.split(), strict=True):
                assert after.isalpha() and after.islower()
                if kind == "insert":
                    assert len(after) == len(before) + 1
                    assert any(after[:i] + after[i + 1 :] == before for i in range(len(after)))
                elif kind == "delete":
                    assert len(after) == max(len(before) - 1, 1)
                    assert len(before) == 1 or any(
                        before[:i] + before[i + 1 :] == after for i in range(len(before))
                    )
                elif kind == "substitute":
                    assert len(after) == len(before)
                    assert sum(a != b for a, b in zip(before, after, strict=False)) == 1
                else:
                    diff = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
                    assert sorted(after) == sorted(before)
                    assert len(before) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1)


def test_char_noise_leaves_non_alphabetic_tokens_alone() -> None:
    text = "n't 's 1984 ... , -- it"
    outs = {run(CharNoise(p=1.0), [text], seed)[0] for seed in range(10)}
    assert all(out.split()[:-1] == text.split()[:-1] for out in outs)
    assert len(outs) > 1


def test_char_noise_rejects_unknown_kinds_and_bad_probabilities() -> None:
    with pytest.raises(ValueError, match="did you mean 'swap'"):
        CharNoise(kinds=("swpa",))
    with pytest.raises(ValueError, match="non-empty"):
        CharNoise(kinds=())
    for p in (-0.1, 1.5, float("nan"), "often"):
        with pytest.raises(ValueError, match="probability"):
            CharNoise(p=p)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer >= 0"):
        WordSwap(n=-1)


def qwerty_neighbours() -> dict[str, set[str]]:
    """Keys that touch on a staggered QWERTY layout, computed from key positions."""
    rows, offsets = ["qwertyuiop", "asdfghjkl", "zxcvbnm"], [0.0, 0.25, 0.75]
    where = {c: (r, offsets[r] + i) for r, row in enumerate(rows) for i, c in enumerate(row)}
    return {
        c: {
            d
            for d, (r2, x2) in where.items()
            if d != c and ((r2 == r and abs(x2 - x) == 1) or (abs(r2 - r) == 1 and abs(x2 - x) < 1))
        }
        for c, (r, x) in where.items()
    }


def test_keyboard_map_is_the_qwerty_layout() -> None:
    assert sorted(QWERTY_NEIGHBOURS) == list("abcdefghijklmnopqrstuvwxyz")
    assert {c: set(n) for c, n in QWERTY_NEIGHBOURS.items()} == qwerty_neighbours()
    assert all(c in QWERTY_NEIGHBOURS[n] for c, ns in QWERTY_NEIGHBOURS.items() for n in ns)


def test_keyboard_noise_replaces_one_letter_by_a_neighbour() -> None:
    text = "John 's dog wo n't bite her QUICKLY ."
    neighbours = qwerty_neighbours()
    changed = 0
    for seed in range(20):
        (out,) = run(KeyboardNoise(p=1.0), [text], seed)
        for before, after in zip(text.split(), out.split(), strict=True):
            diff = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
            if before == ".":
                assert after == "."
                continue
            assert len(after) == len(before) and len(diff) == 1
            a, b = before[diff[0]], after[diff[0]]
            assert b.lower() in neighbours[a.lower()] and a.isupper() == b.isupper()
            changed += 1
    assert changed == 20 * 8


# --- word operations -------------------------------------------------------------------------------


def test_word_delete_never_deletes_every_word() -> None:
    for seed in range(30):
        for before, after in zip(TEXTS, run(WordDelete(p=0.95), TEXTS, seed), strict=True):
            words = [w for w in before.split() if not is_punctuation(w)]
            kept = [w for w in after.split() if not is_punctuation(w)]
            assert (len(kept) >= 1) == (len(words) >= 1)
            assert punctuation_of(after) == punctuation_of(before)
    (out,) = run(WordDelete(p=1.0), ["a b c d ."], seed=0)
    assert len(out.split()) == 2 and out.endswith(" .")


def test_word_swap_makes_n_swaps() -> None:
    text = "one two three four five six"
    (out,) = run(WordSwap(n=1), [text], seed=0)
    moved = [i for i, (a, b) in enumerate(zip(text.split(), out.split(), strict=True)) if a != b]
    assert len(moved) == 2
    assert sorted(out.split()) == sorted(text.split())


def test_shuffle_is_a_permutation() -> None:
    text = " ".join(f"w{i}" for i in range(12)) + " !"
    outs = {run(Shuffle(), [text], seed)[0] for seed in range(5)}
    assert len(outs) == 5
    assert all(sorted(o.split()) == sorted(text.split()) and o.endswith(" !") for o in outs)


# --- synonyms and antonyms -------------------------------------------------------------------------


def test_synonym_with_a_lexicon(tmp_path: Path) -> None:
    aug = Synonym(p=1.0, lexicon=write_json(tmp_path / "syn.json", LEXICON))
    texts = ["the good dog , and a bad Cat .", "nothing here to replace ."]
    out = run(aug, texts, seed=0)
    assert out[1] == texts[1]
    # every word with an entry replaced; punctuation kept; a capitalized word stays capitalized
    assert re.fullmatch(r"the (fine|nice day) (hound|pup) , and a poor Feline \.", out[0])
    assert run(aug, texts, seed=0) == out
    assert run(Synonym(p=0.0, lexicon=str(tmp_path / "syn.json")), texts, seed=0) == texts
    outs = {run(aug, ["good dog"], seed)[0] for seed in range(30)}
    assert outs == {f"{a} {b}" for a in ("fine", "nice day") for b in ("hound", "pup")}


def test_antonym_warns_that_labels_can_flip(tmp_path: Path) -> None:
    path = write_json(tmp_path / "ant.json", ANTONYMS)
    with pytest.warns(UserWarning, match="flip the label"):
        aug = make_augmenter("antonym", p=1.0, lexicon=path)
    assert isinstance(aug, Antonym) and aug.flips_label
    assert run(aug, ["the more good , the left ."], seed=0) == ["the less bad , the right ."]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(["good", "bad"]), "must be a JSON object.*not a JSON array"),
        (json.dumps({"good": "fine"}), "entry for 'good' must be a list of strings"),
        (json.dumps({"good": ["fine", 3]}), "entry for 'good' must be a list of strings"),
        (json.dumps("good"), "not a JSON string"),
    ],
)
def test_bad_lexicon_files_are_refused_naming_the_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "lexicon.json"
    path.write_text(content, encoding="utf-8")
    for cls in (Synonym, Antonym):
        with pytest.raises(ValueError, match=match) as info:
            cls(lexicon=str(path))  # refused before the antonym warning
        assert str(path) in str(info.value)
        assert isinstance(info.value, AugmenterError) and isinstance(info.value, UsageError)


def test_missing_lexicon_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"lexicon .*nowhere\.json: cannot be read"):
        Synonym(lexicon=str(tmp_path / "nowhere.json"))


def wordnet_installed() -> bool:
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except (ImportError, LookupError, OSError):
        return False
    return True


def test_wordnet_source_or_its_clear_error() -> None:
    if wordnet_installed():
        aug = Synonym(p=1.0)
        assert aug.replacements("good") and "good" not in aug.replacements("good")
        (out,) = run(aug, ["a good movie ."], seed=0)
        assert out != "a good movie ." and out.endswith(" .")
        with pytest.warns(UserWarning, match="flip the label"):
            assert "bad" in Antonym(p=1.0).replacements("good")
        return
    for cls in (Synonym, Antonym):
        with pytest.raises(UsageError, match="nltk") as info:
            cls(p=0.5)
        message = str(info.value)
        assert "python -m nltk.downloader wordnet" in message and "lexicon" in message
        try:
            import nltk  # noqa: F401
        except ImportError:
            assert "pip install nltk" in message


# --- the registry ----------------------------------------------------------------------------------


def test_make_augmenter_by_name(tmp_path: Path) -> None:
    assert sorted(AUGMENTERS) == sorted(
        [
            "char_noise",
            "keyboard",
            "word_delete",
            "word_swap",
            "shuffle",
            "synonym",
            "antonym",
            "back_translation",
        ]
    )
    for name, cls in AUGMENTERS.items():
        assert cls.name == name
    aug = make_augmenter("char_noise", p=0.3, kinds=("swap",))
    assert isinstance(aug, CharNoise) and aug.p == 0.3 and aug.kinds == ("swap",)
    assert isinstance(make_augmenter("Word-Swap", n=2), WordSwap)
    assert isinstance(make_augmenter("synonym", lexicon=write_json(tmp_path / "s.json", LEXICON)), Synonym)
    bt = make_augmenter("back_translation", forward="x", backward="y")
    assert isinstance(bt, BackTranslation) and bt.forward == "x"


def test_make_augmenter_unknown_name_and_parameters() -> None:
    with pytest.raises(ValueError, match="Did you mean 'shuffle'") as info:
        make_augmenter("shufle")
    assert all(name in str(info.value) for name in AUGMENTERS)
    with pytest.raises(ValueError, match="Known augmenters: char_noise"):
        make_augmenter("zzz")
    with pytest.raises(ValueError, match=r"'word_delete'.*its parameters: p"):
        make_augmenter("word_delete", q=0.1)


# --- back-translation ------------------------------------------------------------------------------

CORPUS = [
    "the cat sat on the mat .",
    "john 's dog wo n't bite her .",
    "a quick brown fox jumps over the lazy dog .",
    "die katze sass auf der matte .",
    "der hund beisst sie nicht .",
    "she said that it rained all day .",
]


def tiny_marian(folder: Path, seed: int) -> str:
    """Save a randomly initialized MarianMT model with a sentencepiece tokenizer to ``folder``."""
    spm = needs("sentencepiece")
    torch = pytest.importorskip("torch")
    transformers = needs("transformers")
    folder.mkdir(parents=True)
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4),
        model_writer=proto,
        vocab_size=48,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
    )
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(proto.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    pieces = [
        sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_control(i) or sp.is_unknown(i))
    ]
    vocab = {"</s>": 0, "<unk>": 1, **{p: i + 2 for i, p in enumerate(pieces)}}
    vocab["<pad>"] = len(vocab)
    write_json(folder / "vocab.json", vocab)
    tokenizer = transformers.MarianTokenizer(
        str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json")
    )
    config = transformers.MarianConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    transformers.MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one thread: tiny models are slower with more on a shared machine."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
@pytest.mark.usefixtures("one_thread")
def test_back_translation_with_tiny_local_models(tmp_path: Path) -> None:
    forward = tiny_marian(tmp_path / "en-xx", seed=0)
    backward = tiny_marian(tmp_path / "xx-en", seed=1)
    aug = make_augmenter("back_translation", forward=forward, backward=backward, batch_size=2, max_length=12)
    assert isinstance(aug, BackTranslation) and not aug._models  # loaded lazily, on first use
    texts = ["the cat sat on the mat .", "", "john 's dog wo n't bite her .", "a lazy fox .", "   "]
    out = aug.augment(texts, random.Random(0))
    assert set(aug._models) == {forward, backward}
    assert [type(m).__name__ for m in aug._models[forward]] == ["MarianTokenizer", "MarianMTModel"]
    assert len(out) == len(texts) and all(isinstance(t, str) for t in out)
    assert out[1] == "" and out[4] == "   "
    assert any(a != b for a, b in zip(out, texts, strict=True))
    assert aug.augment(texts, random.Random(1)) == out
    assert (
        make_augmenter(
            "back_translation", forward=forward, backward=backward, batch_size=2, max_length=12
        ).augment(texts, random.Random(0))
        == out
    )
    assert aug.translate(["the cat ."], forward) == aug.translate(["the cat ."], forward)


def test_back_translation_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    needs("transformers")
    missing = str(tmp_path / "missing")
    aug = BackTranslation(forward=missing, backward=missing)
    assert aug.augment(["", "  "], random.Random(0)) == ["", "  "]  # nothing to translate: nothing loaded
    with pytest.raises(UsageError, match="cannot load the translation model") as info:
        aug.augment(["the cat sat ."], random.Random(0))
    message = str(info.value)
    assert missing in message and "allow_download = true" in message and "local folder" in message


def test_back_translation_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        BackTranslation(batch_size=0)
    with pytest.raises(ValueError, match="num_beams"):
        BackTranslation(num_beams=0)
