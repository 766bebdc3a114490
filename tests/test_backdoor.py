"""Backdoor attacks and the backdoor task: triggers on hand-checkable arrays, poison counts and
relabelling, the ASR metric on a model whose answers are known, the exported folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import needs
from torch import nn

from toolkit.attacks.blended import Blended
from toolkit.attacks.patch_trigger import PatchTrigger
from toolkit.attacks.triggers import blend, pattern, stamp
from toolkit.data.base import DataBundle, DataInfo, Split
from toolkit.errors import DataError
from toolkit.tasks.backdoor import export_image_folder, measure


def white(size: int = 2, channels: int = 1) -> torch.Tensor:
    return pattern("white_square", size=size, channels=channels)


@pytest.mark.parametrize(
    ("position", "margin", "rows", "cols"),
    [
        ("bottom_right", 0, (4, 6), (4, 6)),
        ("bottom_right", 1, (3, 5), (3, 5)),
        ("bottom_left", 0, (4, 6), (0, 2)),
        ("top_right", 1, (1, 3), (3, 5)),
        ("top_left", 0, (0, 2), (0, 2)),
        ("center", 0, (2, 4), (2, 4)),
        ([1, 3], 0, (1, 3), (3, 5)),
    ],
)
def test_stamp_puts_the_patch_exactly_there(position: object, margin: int, rows: tuple, cols: tuple) -> None:
    x = torch.zeros(2, 3, 6, 6, dtype=torch.uint8)
    out = stamp(x, white(2, 3), position, margin=margin)  # type: ignore[arg-type]
    expected = np.zeros((6, 6), dtype=np.uint8)
    expected[rows[0] : rows[1], cols[0] : cols[1]] = 255
    for image in out:
        for channel in image:
            assert (channel.numpy() == expected).all()
    assert (x == 0).all()  # the input is not changed


def test_stamp_refuses_what_does_not_fit() -> None:
    x = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="does not fit"):
        stamp(x, white(4), "bottom_right", margin=1)
    with pytest.raises(ValueError, match="outside"):
        stamp(x, white(2), [3, 0])
    with pytest.raises(ValueError, match="uint8 images"):
        stamp(x.float(), white(2), "bottom_right")


def test_patterns() -> None:
    board = pattern("checkerboard", size=3, channels=3)
    assert board.shape == (3, 3, 3) and board.dtype == torch.uint8
    assert board[0].tolist() == [[255, 0, 255], [0, 255, 0], [255, 0, 255]]
    assert (board[0] == board[2]).all()
    assert (pattern("black_square", size=(2, 3), channels=1) == 0).all()
    assert pattern("black_square", size=(2, 3), channels=1).shape == (1, 2, 3)


def test_an_image_file_trigger(tmp_path: Path) -> None:
    from PIL import Image

    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "t.png")
    t = pattern(str(tmp_path / "t.png"), size=2, channels=3)
    assert (t.permute(1, 2, 0).numpy() == rgb).all()
    gray = pattern(str(tmp_path / "t.png"), size=2, channels=1)
    assert gray.shape == (1, 2, 2) and int(gray[0, 0, 0]) == round(0.299 * 255)
    with pytest.raises(DataError, match="neither a built-in pattern"):
        pattern(str(tmp_path / "missing.png"), size=2, channels=3)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read the trigger image"):
        pattern(str(tmp_path / "bad.png"), size=2, channels=3)


def test_blend_is_the_rounded_mix() -> None:
    x = torch.tensor([[[[0, 100], [200, 255]]]], dtype=torch.uint8)
    t = torch.tensor([[[255, 255], [0, 0]]], dtype=torch.uint8)
    out = blend(x, t, 0.2)
    # 0.8 * x + 0.2 * t: 51, 131, 160, 204
    assert out[0, 0].tolist() == [[51, 131], [160, 204]]
    assert blend(x, t, 1.0)[0, 0].tolist() == t[0].tolist()


def bundle(per_class: int = 20, classes: int = 3, size: int = 6) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(classes).repeat_interleave(per_class)
    x = torch.randint(0, 200, (len(y), 1, size, size), generator=g, dtype=torch.uint8)
    info = DataInfo(name="toy", modality="image", input_shape=(1, size, size),
                    class_names=[f"k{i}" for i in range(classes)])  # fmt: skip
    test_y = torch.arange(classes).repeat_interleave(4)
    test_x = torch.randint(0, 200, (len(test_y), 1, size, size), generator=g, dtype=torch.uint8)
    return DataBundle(Split(x, y), Split(test_x, test_y), info)


def test_poisoning_counts_relabelling_and_what_is_left_alone() -> None:
    clean = bundle()
    attack = PatchTrigger(target="k0", rate=0.25, size=2).bind(clean.info)
    out = attack.poison(clean, torch.Generator().manual_seed(1))
    index, before = out.extras["poisoned"], out.extras["poisoned_from"]
    assert len(index) == 10  # a quarter of the 40 images of k1 and k2
    assert set(before.tolist()) <= {1, 2} and (out.train.y[index] == 0).all()
    assert (out.train.x[index][:, :, 4:, 4:] == 255).all()
    rest = torch.ones(len(clean.train), dtype=torch.bool)
    rest[index] = False
    assert (out.train.x[rest] == clean.train.x[rest]).all() and (
        out.train.y[rest] == clean.train.y[rest]
    ).all()
    assert (clean.train.x[:, :, 4:, 4:] < 255).all()  # the given bundle is not changed
    again = attack.poison(clean, torch.Generator().manual_seed(1)).extras["poisoned"]
    other = attack.poison(clean, torch.Generator().manual_seed(2)).extras["poisoned"]
    assert index.tolist() == again.tolist() and index.tolist() != other.tolist()
    counted = PatchTrigger(target=0, source=["k2"], count=7).bind(clean.info)
    out = counted.poison(clean, torch.Generator().manual_seed(0))
    assert len(out.extras["poisoned"]) == 7 and (out.extras["poisoned_from"] == 2).all()


def test_all_to_all_sends_each_class_to_the_next() -> None:
    clean = bundle()
    attack = Blended(mode="all_to_all", rate=0.5, alpha=0.5).bind(clean.info)
    out = attack.poison(clean, torch.Generator().manual_seed(0))
    index = out.extras["poisoned"]
    assert len(index) == 30 and set(out.extras["poisoned_from"].tolist()) == {0, 1, 2}
    assert (out.train.y[index] == (out.extras["poisoned_from"] + 1) % 3).all()
    assert attack.eligible(clean.test.y).all()


def test_bad_attack_settings_name_the_attack() -> None:
    info = bundle().info
    with pytest.raises(DataError, match="attack PatchTrigger: target: unknown class 'cat'"):
        PatchTrigger(target="cat").bind(info)
    with pytest.raises(ValueError, match="no source class left"):
        PatchTrigger(target="k1", source=["k1"]).bind(info)
    with pytest.raises(ValueError, match="exceeds"):
        PatchTrigger(count=100).bind(info).poison(bundle(), torch.Generator())


class PixelReader(nn.Module):
    """Predicts class 0 when the bottom-right pixel is white and the true class ``k`` (read
    from the top-left pixel, ``20 * k``) otherwise, except that class 2 ignores the trigger."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = (x[:, 0, 0, 0] * 255 / 20).round().long()
        hit = (x[:, 0, -1, -1] > 0.99) & (k != 2)
        pred = torch.where(hit, torch.zeros_like(k), k)
        return nn.functional.one_hot(pred, 3).float()


def test_attack_success_rate_on_a_model_whose_answers_are_known() -> None:
    data = bundle()
    data.test.x[:, 0, 0, 0] = data.test.y.to(torch.uint8) * 20
    data.test.x[:, 0, -1, -1] = 0
    attack = PatchTrigger(target=0, size=1).bind(data.info)
    triggered = attack.trigger(data.test.x)
    result = measure(PixelReader(), data, triggered, attack, device="cpu", batch_size=5)
    assert result["clean_accuracy"] == 1.0
    assert result["n_source_test"] == 8  # classes 1 and 2, four each
    assert result["attack_success_rate"] == 0.5  # class 1 goes to 0, class 2 does not
    assert result["triggered_accuracy"] == pytest.approx(8 / 12)  # class 0 and 2 stay right
    assert result["confusion_triggered"] == [[4, 0, 0], [4, 0, 0], [0, 0, 4]]
    # BackdoorBench's names: R-ACC counts the source images still right when triggered (class 2)
    assert (result["c_acc"], result["asr"], result["r_acc"]) == (1.0, 0.5, 0.5)
    assert result["robust_accuracy"] == 0.5


@pytest.mark.parametrize(
    ("before", "after", "der", "rir"),
    [
        ((0.9, 1.0, 0.0), (0.9, 0.0, 0.9), 1.0, 0.95),  # backdoor gone at no cost; most labels back
        ((0.9, 1.0, 0.0), (0.9, 1.0, 0.0), 0.5, 0.5),  # a defense that changed nothing
        ((0.9, 0.2, 0.7), (0.8, 1.0, 0.0), 0.45, 0.45),  # made it worse: gains clip at 0, the cost counts
        ((0.8, 1.0, 0.0), (0.9, 0.5, 0.4), 0.75, 0.7),  # accuracy rose: no negative cost is credited
    ],
)
def test_defense_rates_follow_backdoorbenchs_formula(
    before: tuple, after: tuple, der: float, rir: float
) -> None:
    from toolkit.tasks.backdoor import defense_rates

    keys = ("c_acc", "asr", "r_acc")
    rates = defense_rates(dict(zip(keys, before, strict=True)), dict(zip(keys, after, strict=True)))
    assert rates["der"] == pytest.approx(der) and rates["rir"] == pytest.approx(rir)
    assert 0 <= rates["der"] <= 1 and 0 <= rates["rir"] <= 1


def test_export_writes_the_poisoned_set_as_an_image_folder(tmp_path: Path) -> None:
    from toolkit.data import image_folder

    clean = bundle(per_class=5, classes=2, size=8)
    poisoned = PatchTrigger(target="k0", count=2, size=2).bind(clean.info).poison(clean, torch.Generator())
    export_image_folder(poisoned, tmp_path / "set")
    files = {p.parent.name + "/" + p.name for p in (tmp_path / "set").rglob("*.png")}
    index = poisoned.extras["poisoned"].tolist()
    assert len(files) == 10 and {f"k0/{i}_poisoned.png" for i in index} <= files
    assert sum(f.startswith("k1/") for f in files) == 3  # two of the five k1 images moved into k0/
    back = image_folder.load(0, root=str(tmp_path / "set"), size=8, grayscale=True, test_size=0.2)
    assert len(back.train) + len(back.test) == 10


def test_backdoor_digits_recipe_plants_the_trigger() -> None:
    """The shipped recipe, shortened: a high ASR on the poisoned model, none on the clean one."""
    import json

    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "backdoor_digits.toml"
    sets = ["train.epochs=8", "evaluate.export=true", "evaluate.rates=[0.03, 0.01]"]
    result = run(load_recipe(recipe, sets), console=None)
    m = result.metrics
    assert m["n_poisoned"] == 113 and m["poison_rate"] == pytest.approx(113 / 1257)
    assert m["attack_success_rate"] > 0.9 and m["clean_accuracy"] > 0.9
    assert m["clean_model"]["attack_success_rate"] < 0.1
    assert abs(m["accuracy_cost"]) < 0.05
    from toolkit.execution.runfolder import read_samples

    samples = read_samples(result.path / "samples" / "backdoor.npz")
    assert (
        m["n_source_test"] == m["n_test"] - int((samples["label"] == 0).sum()) == int(samples["source"].sum())
    )
    hit = samples["source"] == 1
    assert (samples["triggered_prediction"][hit] == 0).mean() == pytest.approx(m["attack_success_rate"])
    figures = {p.stem for p in (result.path / "figures").iterdir()}
    assert figures == {
        "training_curves", "poisoned_set", "triggered_predictions", "confusion_triggered", "asr_by_rate",
        "scan_neural_cleanse_poisoned_model", "scan_neural_cleanse_clean_model",
    }  # fmt: skip
    # Neural Cleanse, from the model alone: the target's reversed trigger stands out; the clean
    # twin's does not
    scan, clean_scan = m["scans"]["neural_cleanse"], m["clean_model"]["scans"]["neural_cleanse"]
    assert scan["targets"] == ["0"] and scan["flagged"] == ["0"] and scan["target_flagged"]
    assert scan["anomaly_index"]["0"] > 2 and scan["values"]["0"] == min(scan["values"].values())
    assert clean_scan["flagged"] == [] and clean_scan["anomaly_index"]["0"] < 2
    by_rate = m["by_rate"]  # the recipe's own rate (0.1) and the two asked for, in order
    assert [p["rate"] for p in by_rate] == [0.01, 0.03, 0.1] and [p["n_poisoned"] for p in by_rate] == [
        11,
        34,
        113,
    ]
    assert by_rate[2]["attack_success_rate"] == m["attack_success_rate"]
    assert by_rate[0]["attack_success_rate"] < by_rate[2]["attack_success_rate"]
    assert m["detectors"]["strip"]["auroc"] > 0.9  # STRIP tells triggered test images from clean ones
    exported = list((result.path / "poisoned_set").rglob("*.png"))
    assert len(exported) == 1257 and sum("_poisoned" in p.name for p in exported) == 113
    assert all(p.parent.name == "0" for p in exported if "_poisoned" in p.name)
    on_disk = json.loads((result.path / "metrics.json").read_text())
    assert on_disk["attack_success_rate"] == m["attack_success_rate"]


def test_the_backdoor_task_takes_one_poisoning_attack() -> None:
    from toolkit.errors import RecipeError
    from toolkit.recipe import parse_recipe

    base = {"task": "backdoor", "name": "b", "dataset": {"name": "digits"}, "model": {"name": "mlp"}}
    with pytest.raises(
        RecipeError,
        match=r"attacks\.0\.name: the backdoor task needs a poisoning attack with a trigger and a target class",
    ):
        parse_recipe({**base, "attacks": [{"name": "fgsm"}]})
    with pytest.raises(RecipeError, match="one poisoning attack at a time"):
        parse_recipe({**base, "attacks": [{"name": "patch_trigger"}, {"name": "blended"}]})
    with pytest.raises(
        RecipeError, match="attack 'patch_trigger' works on image data, but the dataset 'adult' is tabular"
    ):
        parse_recipe({**base, "dataset": {"name": "adult"}, "attacks": [{"name": "patch_trigger"}]})


def test_triggers_match_arts_pixel_for_pixel() -> None:
    """ART's backdoor perturbations (channels-last) and ours (channels-first) on the same images."""
    needs("art")
    from art.attacks.poisoning import PoisoningAttackBackdoor
    from art.attacks.poisoning.perturbations import add_pattern_bd, add_single_bd

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (6, 3, 10, 12), generator=g, dtype=torch.uint8)
    last = x.permute(0, 2, 3, 1).numpy()  # NHWC, as ART's helpers assume

    def ours(**params: object) -> np.ndarray:
        return PatchTrigger(**params).trigger(x).permute(0, 2, 3, 1).numpy()  # type: ignore[arg-type,union-attr]

    art_pattern = add_pattern_bd(last, distance=2, pixel_value=255)
    assert (ours(trigger="art_pattern", margin=1) == art_pattern).all()
    assert (ours(trigger="art_pattern", margin=3) == add_pattern_bd(last, distance=4, pixel_value=255)).all()
    assert (ours(size=1, margin=1) == add_single_bd(last, distance=2, pixel_value=255)).all()
    # ART's attack class on the images our attack poisons, with the same target labels
    data = bundle(per_class=10, classes=3, size=10)
    attack = PatchTrigger(target="k0", rate=0.5, trigger="art_pattern", margin=1).bind(data.info)
    poisoned = attack.poison(data, torch.Generator().manual_seed(0))
    index = poisoned.extras["poisoned"]
    chosen = data.train.x[index].permute(0, 2, 3, 1).numpy()
    art = PoisoningAttackBackdoor(lambda images: add_pattern_bd(images, distance=2, pixel_value=255))
    target = np.eye(3)[np.zeros(len(index), dtype=int)]
    art_x, art_y = art.poison(chosen, y=target)
    assert (poisoned.train.x[index].permute(0, 2, 3, 1).numpy() == art_x).all()
    assert (poisoned.train.y[index].numpy() == art_y.argmax(1)).all()


def test_arts_backdoor_attack_runs_side_by_side_on_the_same_images() -> None:
    """``[baselines] art = ["poisoning_attack_backdoor"]``: ART's attack with add_pattern_bd
    on the clean versions of the images ours poisoned gives the same pixels, in the run."""
    needs("art")
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "backdoor_digits.toml"
    sets = ["train.epochs=1", "attacks.0.trigger='art_pattern'", "attacks.0.size=3", "attacks.0.margin=1",
            "baselines.art=['poisoning_attack_backdoor']", "evaluate.reference=false", "detectors=[]"]  # fmt: skip
    result = run(load_recipe(recipe, sets), console=None)
    art = result.metrics["baselines"]["art"]["poisoning_attack_backdoor"]
    n = result.metrics["n_poisoned"]
    assert art == {"perturbation": "add_pattern_bd(distance=2)", "images": n, "identical": n} and n > 100
    table = next(t for t in result.tables if t.columns[0] == "ART")
    assert table.rows[0][-1] == f"{n} of {n} poisoned images"


def planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Representations of two classes, 30 of class 0's 200 shifted along four directions."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(400, 32))
    labels = np.repeat([0, 1], 200)
    poison = np.zeros(400, dtype=bool)
    poison[rng.choice(200, 30, replace=False)] = True
    features[poison, :4] += 4.0
    return features, labels, poison


def test_spectral_signatures_find_planted_poisons() -> None:
    from toolkit.defenses.poison_scores import spectral_flags, spectral_outlier_scores

    features, labels, poison = planted()
    scores = spectral_outlier_scores(features, labels)
    assert scores[poison].min() > np.sort(scores[labels == 0])[-31]  # the 30 poisons score highest
    flags = spectral_flags(features, labels, expected_rate=0.1, multiplier=1.5)
    assert flags[labels == 0].sum() == 30 and flags[labels == 1].sum() == 30  # ceil(1.5 * 0.1 * 200)
    assert (flags & poison).sum() == 30


def test_activation_clustering_finds_planted_poisons_and_is_seeded() -> None:
    from toolkit.defenses.poison_scores import activation_clusters

    features, labels, poison = planted()
    flags = activation_clusters(
        features, labels, reduce="pca", dims=10, clusters=2, size_threshold=0.35, seed=0
    )
    assert (flags == poison).all()  # exactly the poisons: class 1 has no small cluster
    again = activation_clusters(
        features, labels, reduce="pca", dims=10, clusters=2, size_threshold=0.35, seed=0
    )
    assert (again == flags).all()
    big = activation_clusters(
        features, labels, reduce="none", dims=10, clusters=2, size_threshold=0.1, seed=0
    )
    assert not big.any()  # 30 of 200 is not under a threshold of 0.1


def test_backdoor_detect_recipe_flags_poisons_and_retrains_without_them() -> None:
    needs("art")  # the recipe runs ART's detectors side by side
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "backdoor_digits_detect.toml"
    first = run(load_recipe(recipe), console=None)
    m = first.metrics
    assert m["n_poisoned"] == 38 and m["attack_success_rate"] > 0.9
    ac, ss = m["filters"]["activation_clustering"], m["filters"]["spectral_signature"]
    assert ac["recall"] > 0.8 and ss["recall"] > 0.6
    assert ac["true_positives"] == round(ac["recall"] * 38) and ac["flagged"] >= ac["true_positives"]
    assert m["after_removal"]["attack_success_rate"] < 0.5 * m["attack_success_rate"]
    removal = m["after_removal"]  # BackdoorBench's numbers of the filters' defense
    assert removal["der"] > 0.7 and removal["rir"] > 0.5 and removal["r_acc"] > m["r_acc"]
    assert {"c_acc", "asr", "r_acc"} <= set(m) and m["asr"] == m["attack_success_rate"]
    columns = first.tables[0].columns
    assert columns[1:4] == ["C-ACC", "ASR", "R-ACC"] and "DER" in columns and "RIR" in columns
    art = m["baselines"]["art"]  # ART's detectors on the same features
    assert art["activation_defence"]["seeds"] == 5 and art["activation_defence"]["recall_min"] > 0.8
    assert (
        0.5 < art["activation_defence"]["agreement"] <= 1
        and 0.5 < art["spectral_signature"]["agreement"] <= 1
    )
    again = run(load_recipe(recipe), console=None)  # the retrained model and its flags come from the cache
    assert again.meta["defense_cached"] is True and again.metrics["filters"] == m["filters"]


class TriggerOrUniform(nn.Module):
    """Logits 50 for class 0 when the bottom-right pixel is (at least) 0.99, else all 0:
    entropy 0 for triggered inputs and log2(3) for the others."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hit = (x[:, 0, -1, -1] >= 0.99).float()
        logits = torch.zeros(len(x), 3)
        logits[:, 0] = 50 * hit
        return logits


def test_strip_entropy_on_a_model_whose_answers_are_known() -> None:
    from toolkit.detectors.strip import STRIP
    from toolkit.outputs import Outputs

    data = bundle(size=6)
    data.train.x[:, :, -1, -1] = 0
    data.test.x[:, :, -1, -1] = 0
    model = TriggerOrUniform()
    triggered = PatchTrigger(size=1).bind(data.info).trigger(data.test.x)
    strip = STRIP(n=5).fit(model, Outputs(model, data.train.x, y=data.train.y))
    clean = strip.score(model, Outputs(model, data.test.x))
    hit = strip.score(model, Outputs(model, triggered))
    assert torch.allclose(clean, torch.full_like(clean, float(np.log2(3))), atol=1e-5)
    assert torch.allclose(hit, torch.zeros_like(hit), atol=1e-5)
    # blended half and half, the trigger pixel falls to 0.5 and the backdoor stays shut
    mixed = STRIP(n=5, blend="mix", alpha=0.5).fit(model, Outputs(model, data.train.x, y=data.train.y))
    assert torch.allclose(mixed.score(model, Outputs(model, triggered)), clean, atol=1e-5)
    assert torch.equal(strip.score(model, Outputs(model, triggered)), hit)  # seeded


def test_art_poison_detectors_on_the_same_representations() -> None:
    """ART's spectral signatures flag exactly ours once each class is centred (ART does not
    centre); ART's activation clustering, unseeded, finds the planted cluster for every seed."""
    needs("art")
    from toolkit.baselines import art_poison
    from toolkit.defenses.poison_scores import activation_clusters, spectral_flags

    features, labels, poison = planted()
    centred = features.copy()
    for c in (0, 1):
        centred[labels == c] -= centred[labels == c].mean(axis=0)
    ours = spectral_flags(centred, labels, expected_rate=0.1, multiplier=1.5)
    art = art_poison.spectral_signature(centred, labels, poison, expected_rate=0.1, multiplier=1.5, ours=ours)
    assert art["agreement"] == 1.0 and art["recall"] == 1.0 and art["flagged"] == 60
    away = features.copy()
    away[:, :4] -= 10.0  # every sample moved away from the poisons' side, along their direction
    shifted = art_poison.spectral_signature(away, labels, poison, expected_rate=0.1, multiplier=1.5)
    assert shifted["recall"] < 0.5  # uncentred, the clean samples project farther than the poisons
    assert (
        spectral_flags(away, labels, expected_rate=0.1, multiplier=1.5) & poison
    ).sum() == 30  # ours: unmoved
    mine = activation_clusters(
        features, labels, reduce="pca", dims=10, clusters=2, size_threshold=0.35, seed=0
    )
    ac = art_poison.activation_defence(
        features, labels, poison, dims=10, clusters=2, size_threshold=0.35, ours=mine
    )
    assert (
        ac["recall_min"] == 1.0 and ac["precision_min"] == 1.0 and ac["agreement"] == 1.0 and ac["seeds"] == 5
    )


@pytest.mark.parametrize("adversary", ["maximize", "confuse"])
def test_the_adaptive_term_moves_features_against_the_discriminator(adversary: str) -> None:
    """One step of the model along the adversarial term's gradient leaves the discriminator
    (held fixed) worse at telling poisons apart: higher loss ("maximize"), or outputs closer
    to 1/2 ("confuse")."""
    from toolkit.attacks.adversarial_embedding import Embedding

    torch.manual_seed(0)
    poisoned = torch.tensor([1.0] * 8 + [0.0] * 24)
    features = torch.randn(32, 6)
    features[:8] += 3.0  # poisons sit apart: easy for D
    everyone = torch.ones(32, dtype=torch.bool)
    term = Embedding(poisoned, everyone, strength=1.0, hidden=16, lr=0.05, balance=True, adversary=adversary)
    index = torch.arange(32)
    for _ in range(200):  # train D on the fixed features (each call is one D step)
        term(features, index)
    assert term.discriminator is not None
    x = features.clone().requires_grad_(True)
    value = term(x, index)  # one more D step, then the model's term
    (grad,) = torch.autograd.grad(value, x)
    moved = (features - 0.5 * grad).detach()
    with torch.no_grad():
        if adversary == "maximize":
            assert term.loss(moved, poisoned) > term.loss(features, poisoned)
        else:
            before = (torch.sigmoid(term.discriminator(features)) - 0.5).abs().mean()
            after = (torch.sigmoid(term.discriminator(moved)) - 0.5).abs().mean()
            assert after < before


def test_the_adaptive_term_compares_poisons_with_their_labels_clean_samples() -> None:
    """With ``against = "target"`` only the samples labelled like the poisons (the poisons
    and the clean samples of the target class) enter the discriminator and the term: the
    other samples' features get no gradient."""
    from toolkit.attacks.adversarial_embedding import AdversarialEmbedding

    clean = bundle()
    for against, compared in (("target", 20 + 10), ("all", 60)):
        attack = AdversarialEmbedding(target="k0", rate=0.25, size=2, against=against).bind(clean.info)
        poisoned = attack.poison(clean, torch.Generator().manual_seed(1))
        term = attack.objective(poisoned)
        assert int(term.compared.sum()) == compared  # 20 clean k0s and 10 poisons, or all 60
        index = torch.arange(60)
        features = torch.randn(60, 5, requires_grad=True)
        (grad,) = torch.autograd.grad(term(features, index), features)
        touched = grad.abs().sum(dim=1) > 0
        assert touched.tolist() == term.compared.tolist()


def test_the_adaptive_recipe_hides_the_poisons_at_a_similar_asr() -> None:
    """Tan & Shokri's claim in spirit, on the digits: the poisons of backdoor_digits_detect
    (activation clustering recall 0.921, spectral signatures 0.763 there) mostly escape both
    filters when the attacker also trains against a discriminator, at an ASR above 0.9."""
    needs("art")  # the recipe runs ART's detectors side by side
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "backdoor_digits_adaptive.toml"
    m = run(load_recipe(recipe), console=None).metrics
    assert m["n_poisoned"] == 38 and m["attack_success_rate"] > 0.9 and m["clean_accuracy"] > 0.9
    assert m["filters"]["activation_clustering"]["recall"] < 0.921 - 0.2
    assert m["filters"]["spectral_signature"]["recall"] < 0.763 - 0.2
    assert m["baselines"]["art"]["activation_defence"]["recall_max"] < 0.5


def test_filters_read_the_layer_the_recipe_names() -> None:
    from toolkit.defenses.activation_clustering import ActivationClustering
    from toolkit.defenses.spectral_signature import SpectralSignature
    from toolkit.errors import UsageError
    from toolkit.models.small_cnn import build
    from toolkit.outputs import Outputs

    data = bundle(per_class=20, classes=3, size=8)
    torch.manual_seed(0)
    model = build(data.info, channels=[4], hidden=12, head=[6])
    layers = ("features", "backbone", "logits", "backbone.0")
    train = Outputs(model, data.train.x, y=data.train.y, batch_size=16, layers=layers)
    widths = {layer: tuple(train.layer(layer).flatten(1).shape) for layer in layers}
    assert widths == {"features": (60, 6), "backbone": (60, 12), "logits": (60, 3), "backbone.0": (60, 256)}
    assert train.passes == 1  # every layer asked for up front came from the one pass
    model.eval()  # representations are read in eval mode (batch norm on its running statistics)
    with torch.no_grad():
        expected = model.backbone(model.normalize(data.train.x.float() / 255)).double().numpy()
    assert np.allclose(train.layer("backbone").double().numpy(), expected, atol=1e-6)
    for layer in layers:
        for filter_ in (SpectralSignature(layer=layer), ActivationClustering(layer=layer)):
            assert filter_.layers == (layer,)
            flags = filter_.flag(model, train)
            assert flags.shape == (60,) and flags.dtype == torch.bool
    assert train.passes == 1
    with pytest.raises(UsageError, match="has no layer 'backbone'"):
        Outputs(PixelReader(), data.train.x).layer("backbone")


def test_arts_detectors_read_the_layer_our_filters_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``layer = "logits"`` on our filters, ART's detectors get the logits too (10 wide
    on the digits), not the penultimate features."""
    needs("art")
    from toolkit.baselines import art_poison
    from toolkit.execution.runner import run
    from toolkit.recipe import load_recipe

    widths: dict[str, int] = {}
    for name in ("activation_defence", "spectral_signature"):
        real = getattr(art_poison, name)

        def spy(features: np.ndarray, *args: object, _real: object = real, _name: str = name, **kw: object):  # type: ignore[no-untyped-def]
            widths[_name] = features.shape[1]
            return _real(features, *args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(art_poison, name, spy)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "backdoor_digits_detect.toml"
    sets = ["train.epochs=1", "defenses.0.layer='logits'", "defenses.1.layer='logits'"]
    m = run(load_recipe(recipe, sets), console=None).metrics
    assert widths == {"activation_defence": 10, "spectral_signature": 10}
    assert m["baselines"]["art"]["spectral_signature"]["agreement"] > 0
