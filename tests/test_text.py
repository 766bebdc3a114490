"""Text: readers, tokenization and its cache, the hf_text model, fine-tuning, explainers,
the bias probe and the text defenses, on a tiny BERT built offline (toolkit.testing.text)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import needs

from toolkit.data.inputs import to_model_input
from toolkit.errors import DataError, UsageError
from toolkit.recipe import parse_recipe
from toolkit.testing.text import tiny_bert, tiny_cola, tiny_sentences

needs("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny BERT folder and a tiny GLUE-layout CoLA folder."""
    root = tmp_path_factory.mktemp("text")
    return {"model": tiny_bert(root / "tiny-bert"), "cola": tiny_cola(root / "cola"), "root": str(root)}


def recipe(tiny: dict[str, str], task: str = "classify", **extra: str) -> dict:
    """A recipe dict on the tiny model and data that learns in about a second."""
    return {
        "task": task,
        "name": f"tiny_{task}",
        "dataset": {"name": "glue_cola", "root": tiny["cola"]},
        "model": {"name": "hf_text", "checkpoint": tiny["model"]},
        "train": {"epochs": 8, "batch_size": 16, "optimizer": "adamw", "lr": 3e-3},
        "runtime": {"threads": 1},
        **extra,
    }


def run(data: dict, tmp_path: Path, overrides: list[str] = ()) -> object:  # type: ignore[assignment]
    from toolkit.execution.runner import run as run_recipe

    return run_recipe(parse_recipe(data, overrides), out_dir=tmp_path / "runs", console=None)


# --------------------------------------------------------------------------- tokenization


def test_encode_pads_on_the_right_and_batches_are_trimmed_to_their_longest(tiny: dict[str, str]) -> None:
    from toolkit.text.tokens import encode, load_tokenizer

    tok = load_tokenizer(tiny["model"])
    ids = encode(tok, ["the dog runs .", "a cat ."], max_length=32)
    assert ids["input_ids"].shape == (2, 6)  # [CLS] the dog runs . [SEP]
    assert ids["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 1, 1, 0]]
    assert ids["input_ids"][1, -1] == tok.pad_token_id
    short = to_model_input({k: v[1:] for k, v in ids.items()})
    assert short["input_ids"].shape == (1, 5)  # the padding column is gone
    assert encode(tok, ["the dog runs . " * 20], max_length=8)["input_ids"].shape == (1, 8)


def test_token_ids_are_cached_per_tokenizer_and_text(tiny: dict[str, str], tmp_path: Path) -> None:
    from toolkit.execution.cache import ArtifactCache
    from toolkit.text.tokens import tokenize

    first = tokenize(["the dog runs ."], tiny["model"], max_length=16)
    entries = [e for e in ArtifactCache().entries() if e.kind == "tokens"]
    assert len(entries) == 1
    again = tokenize(["the dog runs ."], tiny["model"], max_length=16)
    assert torch.equal(first["input_ids"], again["input_ids"])
    assert len([e for e in ArtifactCache().entries() if e.kind == "tokens"]) == 1  # reused
    tokenize(["the cat runs ."], tiny["model"], max_length=16)
    other = tiny_bert(tmp_path / "other", hidden=16)  # the same vocabulary: the same key
    tokenize(["the dog runs ."], other, max_length=16)
    assert len([e for e in ArtifactCache().entries() if e.kind == "tokens"]) == 2


# --------------------------------------------------------------------------- readers


def test_glue_layout_train_and_dev(tiny: dict[str, str]) -> None:
    from toolkit.data.glue_cola import load

    bundle = load(0, tokenizer=tiny["model"], root=tiny["cola"])
    assert (len(bundle.train), len(bundle.test)) == (200, 60)
    assert bundle.info.class_names == ["unacceptable", "acceptable"]
    assert bundle.info.modality == "text" and bundle.info.tokenizer == tiny["model"]
    assert bundle.train.text is not None and len(bundle.train.text) == 200
    assert set(bundle.train.x) == {"input_ids", "attention_mask"}
    texts, labels = tiny_sentences(200, seed=0)
    assert bundle.train.text == texts and bundle.train.y.tolist() == labels


def test_raw_cola_layout_joins_in_and_out_of_domain_dev(tiny: dict[str, str], tmp_path: Path) -> None:
    from toolkit.data.glue_cola import load

    raw = tmp_path / "cola" / "raw"
    raw.mkdir(parents=True)
    rows = (Path(tiny["cola"]) / "train.tsv").read_text().splitlines(keepends=True)
    (raw / "in_domain_train.tsv").write_text("".join(rows[:100]))
    (raw / "in_domain_dev.tsv").write_text("".join(rows[100:120]))
    (raw / "out_of_domain_dev.tsv").write_text("".join(rows[120:130]))
    bundle = load(0, tokenizer=tiny["model"], root=str(tmp_path / "cola"))
    assert (len(bundle.train), len(bundle.test)) == (100, 30)


def test_two_column_file_gets_a_seeded_stratified_validation_split(
    tiny: dict[str, str], tmp_path: Path
) -> None:
    from toolkit.data.glue_cola import load

    texts, labels = tiny_sentences(100, seed=3)
    folder = tmp_path / "text" / "cola"
    folder.mkdir(parents=True)
    lines = ["sentence\tlabel\n"] + [f"{t}\t{y}\n" for t, y in zip(texts, labels, strict=True)]
    (folder / "train.tsv").write_text("".join(lines))
    a = load(1, tokenizer=tiny["model"], root=str(folder), validation=0.2)
    b = load(1, tokenizer=tiny["model"], root=str(folder), validation=0.2)
    c = load(2, tokenizer=tiny["model"], root=str(folder), validation=0.2)
    assert (len(a.train), len(a.test)) == (80, 20)
    assert a.test.text == b.test.text and a.test.text != c.test.text
    assert a.test.y.sum() == 10  # stratified: half of the 20 are acceptable
    small = load(1, tokenizer=tiny["model"], root=str(folder), validation=0.2, max_train=40)
    assert len(small.train) == 40 and set(small.train.text or []) <= set(a.train.text or [])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("a\tb\tc\n", "3 tab-separated columns"),
        ("src\t1\t\tthe dog runs .\nsrc\tyes\t\tthe cat .\n", "line 2: the label is 'yes'"),
        ("", "no sentences"),
    ],
)
def test_bad_cola_files_name_the_file_and_line(tmp_path: Path, content: str, says: str) -> None:
    from toolkit.data.glue_cola import read_tsv

    path = tmp_path / "train.tsv"
    path.write_text(content)
    with pytest.raises(DataError, match=says):
        read_tsv(path)


def test_missing_cola_folder_says_where_it_looked(tiny: dict[str, str], tmp_path: Path) -> None:
    from toolkit.data.glue_cola import load

    with pytest.raises(DataError, match="no CoLA files in"):
        load(0, tokenizer=tiny["model"], root=str(tmp_path / "nowhere"))


def test_text_csv_reads_columns_classes_and_groups(tiny: dict[str, str], tmp_path: Path) -> None:
    from toolkit.data.text_csv import load

    texts, labels = tiny_sentences(40, seed=1)
    lines = ["review,stars,gender\n"] + [
        f'"{t}",{"good" if y else "bad"},{"m" if i % 3 else "f"}\n'
        for i, (t, y) in enumerate(zip(texts, labels, strict=True))
    ]
    path = tmp_path / "reviews.csv"
    path.write_text("".join(lines))
    bundle = load(
        0, path=str(path), tokenizer=tiny["model"], text="review", label="stars",
        class_names=["bad", "good"], sensitive={"gender": "m"}, test_size=0.25,
    )  # fmt: skip
    assert (len(bundle.train), len(bundle.test)) == (30, 10)
    assert bundle.info.class_names == ["bad", "good"] and bundle.info.sensitive == {"gender": ("not m", "m")}
    for split in (bundle.train, bundle.test):
        assert split.text is not None
        for text, g in zip(split.text, split.groups["gender"].tolist(), strict=True):
            assert g == int(texts.index(text) % 3 != 0)
    with pytest.raises(DataError, match="no column 'text'"):
        load(0, path=str(path), tokenizer=tiny["model"], label="stars")
    with pytest.raises(DataError, match="label 'good' is not one of"):
        load(
            0,
            path=str(path),
            tokenizer=tiny["model"],
            text="review",
            label="stars",
            class_names=["bad", "ok"],
        )


def test_the_dataset_takes_the_model_checkpoint_as_its_tokenizer(tiny: dict[str, str]) -> None:
    resolved = parse_recipe(recipe(tiny))
    assert resolved.dataset.params["tokenizer"] == tiny["model"]
    own = recipe(tiny)
    own["dataset"]["tokenizer"] = "elsewhere"
    assert parse_recipe(own).dataset.params["tokenizer"] == "elsewhere"
    with_length = recipe(tiny)
    with_length["model"]["max_length"] = 24
    assert parse_recipe(with_length).dataset.params["max_length"] == 24


# --------------------------------------------------------------------------- model


def test_hf_text_refuses_other_data_and_another_tokenizer(tiny: dict[str, str], tmp_path: Path) -> None:
    from toolkit.data.glue_cola import load
    from toolkit.data.synthetic import load as synthetic
    from toolkit.models.hf_text import build
    from toolkit.testing.text import vocabulary

    with pytest.raises(UsageError, match="needs tokenized text data"):
        build(synthetic(0).info, checkpoint=tiny["model"])
    info = load(0, tokenizer=tiny["model"], root=tiny["cola"]).info
    other = Path(tiny_bert(tmp_path / "other"))
    vocab = vocabulary()
    (other / "vocab.txt").write_text("\n".join(vocab[:5] + list(reversed(vocab[5:]))) + "\n")
    (other / "tokenizer.json").unlink()
    with pytest.raises(UsageError, match="whose tokenizer differs"):
        build(info, checkpoint=str(other))
    with pytest.raises(UsageError, match="cannot load 'no-such-model' from local files"):
        build(info, checkpoint="no-such-model")


def test_hf_text_features_head_and_frozen_encoder(tiny: dict[str, str]) -> None:
    from toolkit.data.glue_cola import load
    from toolkit.data.inputs import take
    from toolkit.models.hf_text import build

    bundle = load(0, tokenizer=tiny["model"], root=tiny["cola"])
    model = build(bundle.info, checkpoint=tiny["model"], freeze="encoder").eval()
    x = to_model_input(take(bundle.test.x, slice(0, 4)))
    features = model.forward_features(x)
    assert features.shape == (4, 32)
    assert torch.allclose(model.head(features), model(x), atol=1e-6)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"hf.classifier.weight", "hf.classifier.bias"}


# --------------------------------------------------------------------------- training


def test_linear_schedule_warms_up_then_decays_to_zero() -> None:
    from toolkit.recipe import TrainConfig
    from toolkit.training import step_schedule

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1.0)
    schedule = step_schedule(opt, TrainConfig(schedule="linear", warmup=0.2, lr=1.0), 10)
    assert schedule is not None
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates == pytest.approx([0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])


def test_gradient_clipping_bounds_the_update() -> None:
    from toolkit.data.base import Split
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    x = torch.randn(8, 3) * 1000
    y = torch.tensor([0, 1] * 4)
    moved = []
    for clip in (None, 0.01):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        before = model.weight.detach().clone()
        config = TrainConfig(epochs=1, batch_size=8, optimizer="sgd", lr=1.0, momentum=0.0, clip_norm=clip)
        train(model, Split(x, y), config, seed=0)
        moved.append(float((model.weight.detach() - before).norm()))
    assert moved[1] <= 0.01 + 1e-6 < moved[0]


def test_fine_tuning_the_tiny_model_end_to_end(tiny: dict[str, str], tmp_path: Path) -> None:
    data = recipe(tiny)
    data["train"].update(
        {"schedule": "linear", "warmup": 0.1, "clip_norm": 1.0, "monitor": "mcc", "select": "best"}
    )
    result = run(data, tmp_path)
    assert result.metrics["mcc"] > 0.8 and result.metrics["accuracy"] > 0.9  # type: ignore[attr-defined]
    history = json.loads((result.path / "history.json").read_text())  # type: ignore[attr-defined]
    assert all("test_mcc" in h for h in history)
    chosen = [h for h in history if h.get("selected")]
    assert len(chosen) == 1 and chosen[0]["test_mcc"] == max(h["test_mcc"] for h in history)
    assert result.metrics["mcc"] == pytest.approx(chosen[0]["test_mcc"])  # type: ignore[attr-defined]
    assert (result.path / "figures" / "training_curves.png").is_file()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- explainers


@pytest.fixture(scope="module")
def trained(tiny: dict[str, str]) -> tuple[torch.nn.Module, object]:
    """The tiny model fine-tuned on the tiny CoLA, with its data."""
    from toolkit.data.glue_cola import load
    from toolkit.models.hf_text import build
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    bundle = load(0, tokenizer=tiny["model"], root=tiny["cola"])
    torch.manual_seed(0)
    model = build(bundle.info, checkpoint=tiny["model"])
    train(model, bundle.train, TrainConfig(epochs=8, batch_size=16, optimizer="adamw", lr=3e-3), seed=0)
    return model.eval(), bundle


def _batch(bundle: object, n: int = 4) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    from toolkit.data.inputs import take

    x = dict(take(bundle.test.x, slice(0, n)))  # type: ignore[attr-defined]
    x["input_ids"][1, 3:] = 0  # a shorter sentence: padding inside the batch
    x["attention_mask"][1, 3:] = 0
    x["input_ids"][1, 2] = 3  # [SEP]
    return x, bundle.test.y[:n]  # type: ignore[attr-defined]


def test_integrated_gradients_on_tokens_is_complete(trained: tuple) -> None:
    needs("captum")
    from toolkit.explainers.integrated_gradients import IntegratedGradients

    model, bundle = trained
    x, y = _batch(bundle)
    # 256 steps: the quadrature's error depends on the trained model (64 steps left a gap of
    # 0.26 on one sentence of the model that torch 2.3 trains)
    ig = IntegratedGradients(n_steps=256).bind(bundle.info)
    maps = ig.explain(model, x, y)
    assert maps.shape == x["input_ids"].shape and bool((maps[x["attention_mask"] == 0] == 0).all())
    with torch.no_grad():
        logits = model(to_model_input(x)).gather(1, y[:, None])[:, 0]
    assert ig.base_ is not None and ig.completeness_ is not None
    assert float(ig.completeness_.max()) < 1e-2  # sum = f(x) - f(baseline) up to the quadrature
    assert float((maps.sum(1) - logits).abs().min()) >= 0  # finite
    assert torch.equal(maps, ig.explain(model, x, y))  # deterministic


def test_shap_values_add_up_to_the_probability_difference(trained: tuple) -> None:
    needs("shap")
    from toolkit.explainers.shap_text import Shap

    model, bundle = trained
    x, y = _batch(bundle, 3)
    shap = Shap(max_evals=60).bind(bundle.info)
    maps = shap.explain(model, x, y)
    assert maps.shape == x["input_ids"].shape and bool((maps[x["attention_mask"] == 0] == 0).all())
    with torch.no_grad():
        p = torch.softmax(model(to_model_input(x)), 1).gather(1, y[:, None])[:, 0]
    assert shap.base_ is not None
    assert torch.allclose(maps.sum(1), p - shap.base_, atol=1e-5)
    assert torch.equal(maps, shap.explain(model, x, y))


def test_lime_weights_are_per_token_and_seeded(trained: tuple) -> None:
    needs("lime")
    from toolkit.explainers.lime_text import Lime

    model, bundle = trained
    x, y = _batch(bundle, 3)
    a = Lime(num_samples=100, seed=1).bind(bundle.info).explain(model, x, y)
    b = Lime(num_samples=100, seed=1).bind(bundle.info).explain(model, x, y)
    c = Lime(num_samples=100, seed=2).bind(bundle.info).explain(model, x, y)
    assert torch.equal(a, b) and not torch.equal(a, c)
    special = torch.isin(x["input_ids"], torch.tensor([2, 3])) | (x["attention_mask"] == 0)
    assert bool((a[special] == 0).all()) and bool((a[~special] != 0).any())


def test_merge_words_joins_sub_words() -> None:
    from toolkit.explainers.text import merge_words

    assert merge_words(["[CLS]", "un", "##happy", "dog", "[SEP]"], [9, 1, 2, 3, 9], {"[CLS]", "[SEP]"}) == (
        ["unhappy", "dog"],
        [3.0, 3.0],
    )
    assert merge_words(["▁the", "▁dog", "s"], [1, 2, 3], set()) == (["the", "dogs"], [1.0, 5.0])


def test_explain_task_writes_json_escaped_html_figures_and_the_sanity_check(
    tiny: dict[str, str], tmp_path: Path
) -> None:
    needs("captum", "shap", "lime")
    data = recipe(
        tiny, "explain",
        explainers=[{"name": "integrated_gradients", "n_steps": 256}, {"name": "shap", "max_evals": 40},
                    {"name": "lime", "num_samples": 60}],
        evaluate={"sentences": ["the dog runs .", "runs the <b>dog</b> ."]},
    )  # fmt: skip
    result = run(data, tmp_path)
    metrics = result.metrics  # type: ignore[attr-defined]
    assert set(metrics["explainers"]) == {"integrated_gradients", "shap", "lime"}
    assert metrics["explainers"]["shap"]["completeness_gap"]["max"] < 1e-5
    assert metrics["explainers"]["integrated_gradients"]["completeness_gap"]["max"] < 5e-2
    assert all("sanity_spearman" in v for v in metrics["explainers"].values())
    assert set(metrics["agreement"]) == {
        "integrated_gradients vs shap", "integrated_gradients vs lime", "shap vs lime"
    }  # fmt: skip
    saved = json.loads((result.path / "attributions.json").read_text())  # type: ignore[attr-defined]
    assert saved[0]["words"] == ["the", "dog", "runs", "."]
    assert all(len(v) == 4 for v in saved[0]["attributions"].values())
    page = (result.path / "explanations.html").read_text()  # type: ignore[attr-defined]
    assert "<b>dog" not in page and "&lt;" in page
    assert (result.path / "figures" / "sentence_1.png").is_file()  # type: ignore[attr-defined]


def test_explain_task_refuses_image_data() -> None:
    from toolkit.errors import RecipeError

    data = {
        "task": "explain", "name": "x", "dataset": {"name": "digits"}, "model": {"name": "small_cnn"},
        "explainers": [{"name": "saliency"}],
    }  # fmt: skip
    with pytest.raises(RecipeError, match="the explain task works on text data"):
        parse_recipe(data)


# --------------------------------------------------------------------------- bias and defenses


def test_probe_sentences_pair_male_and_female_copies() -> None:
    from toolkit.text.templates import occupation_name, probe_sentences

    probes = probe_sentences({"engineer": 10.0, "nurse": 90.0})
    assert len(probes) % 2 == 0
    for male, female in zip(probes[::2], probes[1::2], strict=True):
        assert (male.gender, female.gender) == ("male", "female") and male.pair == female.pair
        assert male.label == female.label and male.occupation == female.occupation
        assert len(male.text.split()) == len(female.text.split())
        assert sum(a != b for a, b in zip(male.text.split(), female.text.split(), strict=True)) == 1
    assert {p.label for p in probes} == {0, 1}
    assert "an engineer" in probes[0].text
    assert occupation_name("construction_worker") == "construction worker"
    assert occupation_name("hairdressers") == "hairdresser"


def test_text_bias_with_and_without_counterfactual_augmentation(tiny: dict[str, str], tmp_path: Path) -> None:
    shares = tmp_path / "occupations.json"
    shares.write_text(json.dumps({"nurse": 90, "farmer": 22, "teacher": 78, "doctor": 40}))
    data = recipe(tiny, "text_bias", defenses=[{"name": "gender_swap", "rate": 1.0}],
                  evaluate={"occupations": str(shares)})  # fmt: skip
    result = run(data, tmp_path)
    metrics = result.metrics  # type: ignore[attr-defined]
    assert set(metrics) >= {"without defenses", "with defenses", "n_probes"}
    for side in ("without defenses", "with defenses"):
        m = metrics[side]
        for key in ("counterfactual_flip_rate", "disparate_impact", "statistical_parity_difference",
                    "equal_opportunity_difference", "average_odds_difference", "gap_share_spearman",
                    "test_mcc", "test_accuracy"):  # fmt: skip
            assert key in m
        assert 0 <= m["counterfactual_flip_rate"] <= 1 and set(m["gap"]) == {
            "nurse",
            "farmer",
            "teacher",
            "doctor",
        }
        fr = m["favourable_rate"]
        assert m["statistical_parity_difference"] == pytest.approx(fr["female"] - fr["male"])
    from toolkit.execution.runfolder import read_samples

    samples = read_samples(result.path / "samples" / "probes.npz")  # type: ignore[attr-defined]
    p = samples["p_favourable_without_defenses"]
    female = samples["gender"] == "female"
    predicted = p >= 0.5
    flips = float(np.mean(predicted[~female] != predicted[female]))
    assert metrics["without defenses"]["counterfactual_flip_rate"] == pytest.approx(flips)


def test_gender_swap_adds_or_replaces_swapped_sentences(tiny: dict[str, str]) -> None:
    from toolkit.data.glue_cola import load
    from toolkit.defenses.gender_swap import GenderSwap
    from toolkit.text.gender import has_gender, swap_gender
    from toolkit.text.tokens import encode, load_tokenizer

    bundle = load(0, tokenizer=tiny["model"], root=tiny["cola"])
    texts = bundle.train.text or []
    gendered = [i for i, t in enumerate(texts) if has_gender(t)]
    assert gendered
    added = GenderSwap(rate=1.0).transform(bundle)
    assert len(added.train) == len(bundle.train) + len(gendered)
    assert added.extras["gender_swap"] == {"gendered": len(gendered), "swapped": len(gendered), "mode": "add"}
    new = (added.train.text or [])[len(texts) :]
    assert new == [swap_gender(texts[i]) for i in gendered]
    assert added.train.y[len(texts) :].tolist() == bundle.train.y[gendered].tolist()
    tok = load_tokenizer(tiny["model"])
    ids = encode(tok, new[:1], max_length=64)["input_ids"][0]
    assert added.train.x["input_ids"][len(texts), : len(ids)].tolist() == ids.tolist()
    assert len(bundle.train) == len(texts)  # the input bundle is untouched
    replaced = GenderSwap(rate=0.5, mode="replace", seed=1).transform(bundle)
    assert len(replaced.train) == len(bundle.train)
    changed = [i for i, (a, b) in enumerate(zip(texts, replaced.train.text or [], strict=True)) if a != b]
    assert len(changed) == replaced.extras["gender_swap"]["swapped"] == -(-len(gendered) // 2)


def test_text_augment_hook_and_robustness_task(tiny: dict[str, str], tmp_path: Path) -> None:
    data = recipe(
        tiny, "text_robustness",
        defenses=[{"name": "text_augment", "augmenter": "char_noise", "params": {"p": 0.2}, "rate": 0.5}],
        evaluate={"augmenters": [{"name": "word_delete", "p": 0.3}, {"name": "shuffle"}]},
    )  # fmt: skip
    result = run(data, tmp_path)
    metrics = result.metrics  # type: ignore[attr-defined]
    assert set(metrics) == {"clean", "word_delete", "shuffle"}
    assert metrics["clean"]["changed"] == 0 and metrics["shuffle"]["changed"] > 0.5
    assert metrics["shuffle"]["accuracy"] < metrics["clean"]["accuracy"]  # word order is the task
    bad = recipe(tiny, "text_robustness", evaluate={"augmenters": [{"name": "char_noize"}]})
    from toolkit.errors import RecipeError

    with pytest.raises(RecipeError, match="char_noise"):
        parse_recipe(bad)


def test_pad_cat_pads_ids_and_masks() -> None:
    from toolkit.text.bundle import pad_cat

    a = {"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.tensor([[1, 1, 1]])}
    b = {"input_ids": torch.tensor([[8]]), "attention_mask": torch.tensor([[1]])}
    out = pad_cat([a, b], pad_id=0)
    assert out["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_text_components_pass_the_conformance_checks(tiny: dict[str, str]) -> None:
    from toolkit.testing import check_component

    check_component("datasets", "glue_cola", params={"tokenizer": tiny["model"], "root": tiny["cola"]})
    for kind, name in (("models", "hf_text"), ("defenses", "gender_swap"), ("defenses", "text_augment")):
        check_component(kind, name)  # on the tiny text data of toolkit.testing.text


@pytest.mark.parametrize(
    ("name", "module"), [("shap", "shap"), ("lime", "lime"), ("integrated_gradients", "captum")]
)
def test_text_explainers_pass_the_conformance_checks(name: str, module: str) -> None:
    from toolkit.testing import check_component

    needs(module)
    check_component("explainers", name)  # on the tiny text data of toolkit.testing.text


RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize(
    "name", ["cola_distilbert", "cola_minilm", "cola_explain", "text_bias", "text_bias_cda", "audit_text"]
)
def test_the_text_recipes_run_shrunk_onto_the_tiny_model(
    name: str, tiny: dict[str, str], tmp_path: Path
) -> None:
    """Each shipped text recipe runs end to end with its model and data swapped for the tiny
    ones by --set (the reference protocol needs DistilBERT and GLUE; the numbers at full
    size are in docs/text.md)."""
    from toolkit.execution.runner import run as run_recipe
    from toolkit.recipe import load_recipe

    shares = tmp_path / "occupations.json"
    shares.write_text(json.dumps({"nurse": 90, "farmer": 22}))
    shrink = [
        f"model.checkpoint='{tiny['model']}'", "model.allow_download=false", "model.max_length=32",
        f"dataset.root='{tiny['cola']}'", "train.epochs=2", "train.lr=3e-3", "runtime.threads=1",
    ]  # fmt: skip
    if name.startswith("text_bias") or name == "audit_text":
        shrink.append(f"evaluate.occupations='{shares}'")
    if name == "cola_explain":
        needs("captum", "shap", "lime")
        shrink += ["explainers.0.max_evals=20", "explainers.1.num_samples=30", "explainers.2.n_steps=8"]
    result = run_recipe(
        load_recipe(RECIPES / f"{name}.toml", shrink), out_dir=tmp_path / "runs", console=None
    )
    metrics = result.metrics
    if name == "audit_text":
        assert (
            metrics["checks"]["fairness"]["n_probes"] > 0
            and "augmentations" in metrics["checks"]["robustness"]
        )
        assert len(metrics["checks"]["explanations"]["sentences"]) == 3
    elif name.startswith("cola_") and name != "cola_explain":
        assert -1 <= metrics["mcc"] <= 1 and 0 <= metrics["accuracy"] <= 1
    elif name == "cola_explain":
        assert len(metrics["sentences"]) == 3 and set(metrics["explainers"]) == {
            "shap",
            "lime",
            "integrated_gradients",
        }
    else:
        assert ("with defenses" in metrics) == (name == "text_bias_cda")
        assert metrics["n_probes"] > 0


@pytest.mark.data
def test_cola_minilm_runs_shrunk_on_the_shared_model_and_sentences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import SHARED_DATA

    from toolkit.execution.runner import run as run_recipe
    from toolkit.recipe import load_recipe

    if (
        not (SHARED_DATA / "models" / "all-MiniLM-L6-v2").is_dir()
        or not (SHARED_DATA / "text" / "cola").is_dir()
    ):
        pytest.skip(f"the shared CoLA sentences and MiniLM model are not under {SHARED_DATA}")
    monkeypatch.setenv("TOOLKIT_DATA", str(SHARED_DATA))
    shrink = ["dataset.max_train=64", "train.epochs=1", "runtime.threads=1"]
    result = run_recipe(load_recipe(RECIPES / "cola_minilm.toml", shrink), out_dir=tmp_path, console=None)
    assert result.metrics["n_train"] == 64 and result.metrics["n_test"] == 856


def test_replacing_a_checkpoints_files_changes_the_trained_models_key(
    tiny: dict[str, str], tmp_path: Path
) -> None:
    import os
    import shutil

    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.models.hf_text import files_key

    folder = Path(shutil.copytree(tiny["model"], tmp_path / "copy"))
    data = recipe(tiny)
    data["model"]["checkpoint"] = str(folder)

    def key() -> str:
        pipeline = Pipeline(
            parse_recipe(data), device=torch.device("cpu"), cache=None, log=RunLog(None, None)
        )
        spec = pipeline.stage("train")
        assert spec["model_files"] == files_key({"checkpoint": str(folder)})
        from toolkit.recipe import fingerprint

        return fingerprint(spec)

    before = key()
    weights = folder / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert key() == before  # touched, not changed: the same checkpoint
    stat, raw = weights.stat(), bytearray(weights.read_bytes())
    raw[-1] ^= 0x01  # other weights of the same size, with the modification time put back
    weights.write_bytes(bytes(raw))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert key() != before
    assert files_key({"checkpoint": "some-org/some-model"}) == "hub:some-org/some-model"


def test_bias_metrics_on_a_hand_made_table() -> None:
    """Four male/female pairs worked out by hand: men get 3 favourable outcomes of 4, women 2."""
    from toolkit.tasks.text_bias import bias_metrics

    p = np.array([0.9, 0.4, 0.8, 0.7, 0.3, 0.2, 0.6, 0.5])  # pairs: (male, female)
    m = bias_metrics(
        p,
        labels=np.array([1, 1, 1, 1, 0, 0, 0, 0]),
        male=np.array([1, 0] * 4),
        occupation=np.array(["nurse"] * 4 + ["carpenter"] * 4),
        shares={"nurse": 90.0, "carpenter": 2.0},
    )
    assert m["favourable_rate"] == {"female": 0.5, "male": 0.75}
    assert m["disparate_impact"] == pytest.approx(2 / 3)
    assert m["statistical_parity_difference"] == pytest.approx(-0.25)
    assert m["equal_opportunity_difference"] == pytest.approx(0.5 - 1.0)  # TPR_f - TPR_m
    assert m["average_odds_difference"] == pytest.approx(((0.5 - 0.5) + (0.5 - 1.0)) / 2)
    assert m["counterfactual_flip_rate"] == pytest.approx(0.25)  # only the first pair flips
    assert m["gap"] == pytest.approx({"nurse": 0.55 - 0.85, "carpenter": 0.35 - 0.45})
    assert m["gap_share_spearman"] == pytest.approx(-1.0)
    assert m["probe_accuracy"] == pytest.approx(5 / 8)


def test_mean_pooling_averages_the_last_layer_over_the_mask(tiny: dict[str, str]) -> None:
    from toolkit.data.glue_cola import load
    from toolkit.data.inputs import take
    from toolkit.models.hf_text import build

    bundle = load(0, tokenizer=tiny["model"], root=tiny["cola"])
    model = build(bundle.info, checkpoint=tiny["model"], pooling="mean").eval()
    x = to_model_input(take(bundle.test.x, slice(0, 4)))
    with torch.no_grad():
        hidden = model.hf.base_model(**x).last_hidden_state
        features = model.forward_features(x)
        logits = model(x)
    mask = x["attention_mask"]
    for i in range(4):
        n = int(mask[i].sum())
        assert torch.allclose(features[i], hidden[i, :n].mean(0), atol=1e-6)
    assert torch.allclose(model.head(features), logits, atol=1e-6)
    padded = {k: torch.nn.functional.pad(v, (0, 5)) for k, v in x.items()}  # more padding: same answer
    with torch.no_grad():
        assert torch.allclose(model(padded), logits, atol=1e-5)


def test_fused_adamw_takes_the_same_steps_up_to_rounding() -> None:
    from toolkit.data.base import Split
    from toolkit.recipe import TrainConfig
    from toolkit.training import make_optimizer, train

    x, y = torch.randn(64, 5), torch.randint(0, 2, (64,))
    weights = []
    for fused in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        config = TrainConfig(
            epochs=3, batch_size=16, optimizer="adamw", lr=1e-2, weight_decay=0.01, fused=fused
        )
        made = make_optimizer(model.parameters(), config).defaults.get("fused")
        if fused and made is None and tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 4):
            pytest.skip("torch < 2.4 has no fused AdamW on the CPU (make_optimizer falls back)")
        assert made is (True if fused else None)
        train(model, Split(x, y), config, seed=0)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(weights[0], weights[1], atol=1e-5)


def test_the_audit_of_a_text_model(tiny: dict[str, str], tmp_path: Path) -> None:
    """A text model's audit: robustness is the balanced accuracy under the text
    augmentations, fairness the gender-bias probes, explanations IG, SHAP and LIME with the
    randomization sanity check; the image-only checks say why they are skipped."""
    shares = tmp_path / "occupations.json"
    shares.write_text(json.dumps({"nurse": 90, "farmer": 22, "teacher": 78, "doctor": 40}))
    data = recipe(tiny, "audit", evaluate={"occupations": str(shares), "explain_samples": 2})
    checks = run(data, tmp_path).metrics["checks"]  # type: ignore[attr-defined]
    robust = checks["robustness"]
    assert set(robust["augmentations"]) == {"clean", "char_noise", "keyboard", "word_delete", "word_swap"}
    assert all(a["changed"] > 0 for k, a in robust["augmentations"].items() if k != "clean")
    assert robust["verdict"] in ("pass", "warn", "fail") and robust["worst"] in robust["augmentations"]
    assert 0 <= robust["kept"] <= 1
    fair = checks["fairness"]
    assert (
        fair["verdict"] in ("pass", "warn", "fail") and fair["n_probes"] > 0 and "p%-rule" in fair["reason"]
    )
    assert set(fair["gap"]) == {"nurse", "farmer", "teacher", "doctor"}
    explained = checks["explanations"]
    assert set(explained["methods"]) == {"integrated_gradients", "shap", "lime"}
    assert len(explained["sentences"]) == 2 and explained["verdict"] in ("pass", "warn", "fail")
    assert all(np.isfinite(m["mean_abs_spearman"]) for m in explained["methods"].values())
    assert checks["backdoor"]["verdict"] == "skipped" and "text" in checks["backdoor"]["reason"]
    assert checks["performance"]["verdict"] == "pass"


class Gendered(torch.nn.Module):
    """The tiny model, with a push toward the favourable class (1) in every sentence that has
    a male word and against it in every sentence that has a female one."""

    def __init__(self, model: torch.nn.Module, male: list[int], female: list[int]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("male", torch.tensor(male))
        self.register_buffer("female", torch.tensor(female))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = x["input_ids"]
        push = torch.isin(ids, self.male).any(1).float() - torch.isin(ids, self.female).any(1).float()
        return self.model(x) + 20.0 * torch.stack([-push, push], dim=1)


def test_a_text_model_that_favours_men_fails_the_fairness_check(tiny: dict[str, str], tmp_path: Path) -> None:
    import toolkit
    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.text.tokens import load_tokenizer

    shares = tmp_path / "occupations.json"
    shares.write_text(json.dumps({"nurse": 90, "farmer": 22, "teacher": 78, "doctor": 40}))
    data = recipe(tiny, "audit", evaluate={"occupations": str(shares), "checks": ["fairness"]})
    pipeline = Pipeline(parse_recipe(data), device=torch.device("cpu"), cache=ArtifactCache(tmp_path / "c"),
                        log=RunLog(None, None))  # fmt: skip
    net = pipeline.trained().model.eval()
    vocab = load_tokenizer(tiny["model"]).get_vocab()
    biased = Gendered(net, [vocab[w] for w in ("he", "his", "him", "man")],
                      [vocab[w] for w in ("she", "her", "woman")])  # fmt: skip
    table = {k: v for k, v in data.items() if k not in ("model", "train")}
    table["dataset"] = {**table["dataset"], "tokenizer": tiny["model"]}
    fair = toolkit.run(table, model=biased, out_dir=tmp_path / "runs").metrics["checks"]["fairness"]
    assert fair["verdict"] == "fail" and fair["p_rule"] < 80, fair["reason"]
    assert fair["favourable_rate"]["male"] > fair["favourable_rate"]["female"]
