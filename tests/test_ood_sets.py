"""The ood task against near and far OOD data sets (OpenOOD v1.5's protocol), and the
conversion of other data sets to the in-distribution shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from toolkit.data.conform import to_shape
from toolkit.errors import DataError, RecipeError
from toolkit.execution.runner import run
from toolkit.metrics.ood import ood_metrics
from toolkit.recipe import parse_recipe

SYNTH = {"name": "synthetic", "modality": "image", "n_features": 64, "n_per_class": 40}


def recipe(**evaluate: Any) -> dict[str, Any]:
    return {
        "task": "ood",
        "name": "digits_sets",
        "dataset": {"name": "digits"},
        "model": {"name": "small_cnn", "channels": [8, 16], "hidden": 32},
        "train": {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": 0.003},
        "detectors": [{"name": "msp"}, {"name": "mahalanobis"}],
        "evaluate": evaluate,
    }


# --------------------------------------------------------------------------- conversion


def test_gray_becomes_rgb_by_repeating_and_rgb_becomes_gray_as_pillow_computes_luma() -> None:
    g = torch.randint(0, 256, (3, 1, 5, 5), dtype=torch.uint8)
    rgb = to_shape(g, (3, 5, 5))
    assert torch.equal(rgb, g.expand(-1, 3, -1, -1))
    x = torch.randint(0, 256, (4, 3, 6, 6), dtype=torch.uint8)
    gray = to_shape(x, (1, 6, 6))
    for i in range(4):
        pil = np.asarray(Image.fromarray(x[i].permute(1, 2, 0).numpy()).convert("L"), dtype=int)
        assert np.abs(gray[i, 0].numpy().astype(int) - pil).max() <= 1


def test_resizing_is_antialiased_bilinear_and_a_matching_shape_is_returned_as_is() -> None:
    x = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    x[..., :, 14:] = 200
    y = to_shape(x, (1, 8, 8))
    assert y.shape == (1, 1, 8, 8) and y.dtype == torch.uint8
    assert (y[..., :3] == 0).all() and (y[..., 5:] == 200).all()  # each half stays flat
    assert 0 < int(y[0, 0, 0, 4]) < 200  # the edge is blended, not copied
    assert to_shape(x, (1, 28, 28)) is x


def test_conversion_refuses_what_it_cannot_convert() -> None:
    with pytest.raises(DataError, match="OOD data set x: images with 4 channels"):
        to_shape(torch.zeros(1, 4, 8, 8, dtype=torch.uint8), (3, 8, 8), what="OOD data set x")
    with pytest.raises(DataError, match="expected uint8 images"):
        to_shape(torch.zeros(1, 3, 8, 8), (3, 8, 8))


# --------------------------------------------------------------------------- the recipe


def test_near_and_far_sets_are_validated_as_dataset_components() -> None:
    ok = parse_recipe(recipe(near=["digits"], far=[SYNTH]), ["evaluate.far.0.separation=2.0"])
    assert [c.name for c in ok.task.nested] == ["digits", "synthetic"]
    assert ok.task.params["near"][0] == {
        "name": "digits",
        "holdout": [],
        "test_size": 0.3,
    }  # defaults filled in
    assert ok.task.params["far"][0]["separation"] == 2.0  # --set reaches a set's parameters
    with pytest.raises(RecipeError) as bad:
        parse_recipe(recipe(far=[{"name": "no_such_set"}, {**SYNTH, "n_featurez": 3}, 7]))
    text = str(bad.value)
    assert "evaluate.far.0.name" in text and "no_such_set" in text
    with pytest.raises(RecipeError, match=r"evaluate\.far\.0: the OOD data set 'synthetic' is tabular"):
        parse_recipe(recipe(far=["synthetic"]))
    with pytest.raises(RecipeError, match=r"evaluate\.far\.1\.n_featurez"):
        parse_recipe(recipe(far=[SYNTH, {**SYNTH, "n_featurez": 3}]))
    with pytest.raises(RecipeError, match=r"evaluate\.near\.0: expected a dataset name or a table"):
        parse_recipe(recipe(near=[7]))


def test_without_holdout_or_sets_the_recipe_says_how_to_give_ood_data() -> None:
    with pytest.raises(RecipeError, match=r"holdout = \[\"frog\"\]\) or OOD data sets"):
        parse_recipe(recipe())


def test_an_ood_set_enters_the_run_fingerprint_only() -> None:
    a = parse_recipe(recipe(far=[SYNTH])).fingerprints()
    b = parse_recipe(recipe(far=[{**SYNTH, "separation": 2.0}])).fingerprints()
    assert a["train"] == b["train"] and a["run"] != b["run"]


@pytest.fixture(scope="module")
def sets_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("runs")
    near = {**SYNTH, "separation": 0.5}
    far = [{**SYNTH, "image_size": 16, "n_features": 256}, {**SYNTH, "modality": "image", "n_features": 64}]
    spec = recipe(near=[near], far=far, ood_samples=30)
    spec["dataset"]["holdout"] = ["9"]
    return run(parse_recipe(spec), out_dir=out, cache_dir=out / "cache", console=None)


def test_each_set_is_scored_and_its_metrics_recompute_from_the_saved_scores(sets_run: Any) -> None:
    m, folder = sets_run.metrics, Path(sets_run.path)
    assert list(m["sets"]) == ["synthetic", "synthetic_2", "synthetic_3"]
    assert [m["sets"][k]["group"] for k in m["sets"]] == ["near", "far", "far"]
    assert all(m["sets"][k]["n"] == 30 for k in m["sets"])  # ood_samples
    held = np.load(folder / "samples" / "ood.npz")
    inside = {d: held[f"score_{d}"][held["held_out"] == 0] for d in ("msp", "mahalanobis")}
    for key in m["sets"]:
        saved = np.load(folder / "samples" / f"ood_{key}.npz")
        assert len(saved["prediction"]) == 30
        for d in ("msp", "mahalanobis"):
            again = ood_metrics(inside[d], saved[f"score_{d}"], 0.95)
            assert m["sets"][key]["detectors"][d] == pytest.approx(again)
    # the held-out protocol is still there, unchanged, beside the sets
    assert m["holdout"] == ["9"] and set(m["detectors"]) == {"msp", "mahalanobis"}


def test_group_means_average_the_sets_of_each_group(sets_run: Any) -> None:
    m = sets_run.metrics
    for d in ("msp", "mahalanobis"):
        far = [m["sets"][k]["detectors"][d] for k in ("synthetic_2", "synthetic_3")]
        for metric in ("auroc", "fpr_at_tpr", "fpr_at_tpr_ood_positive", "aupr_in", "aupr_out"):
            assert m["groups"]["far"][d][metric] == pytest.approx(np.mean([f[metric] for f in far]))
        assert m["groups"]["near"][d]["auroc"] == m["sets"]["synthetic"]["detectors"][d]["auroc"]
    # images far from the digits (16x16 Gaussian noise squeezed to 8x8) are told apart
    assert m["groups"]["far"]["mahalanobis"]["auroc"] > 0.9


def test_the_report_has_the_group_table_per_set_rows_and_figures(sets_run: Any) -> None:
    folder = Path(sets_run.path)
    titles = [t.title for t in sets_run.tables]
    assert any("group means" in t for t in titles) and "OOD detection per data set" in titles
    detail = next(t for t in sets_run.tables if t.title == "OOD detection per data set")
    assert [r[:3] for r in detail.rows if r[1] == "far (mean)"] == [
        ["msp", "far (mean)", "far"],
        ["mahalanobis", "far (mean)", "far"],
    ]
    assert not any(r[1] == "near (mean)" for r in detail.rows)  # one near set: no mean row
    for name in ("auroc_by_set", "roc_synthetic", "roc_synthetic_2", "roc", "training_curves"):
        assert (folder / "figures" / f"{name}.png").is_file()
    assert "OpenOOD" in (folder / "report.html").read_text()


def test_all_splits_and_a_shape_conversion(tmp_path: Path) -> None:
    spec = recipe(far=[{**SYNTH, "image_size": 12, "n_features": 144}], ood_split="all")
    spec["train"]["epochs"] = 1
    result = run(parse_recipe(spec), out_dir=tmp_path, cache_dir=tmp_path / "cache", console=None)
    assert result.metrics["sets"]["synthetic"]["n"] == 4 * 40  # train and test of 4 classes
    assert "holdout" not in result.metrics and "detectors" not in result.metrics
    log = (Path(result.path) / "log.txt").read_text()
    assert "160 of 160 images, as (1, 8, 8)" in log


def test_problems_of_near_and_far_are_reported_together() -> None:
    with pytest.raises(RecipeError) as bad:
        parse_recipe(recipe(near=[{"name": "nope_a"}], far=[{"name": "nope_b"}]))
    assert "evaluate.near.0.name" in str(bad.value) and "evaluate.far.0.name" in str(bad.value)


def test_only_the_scored_split_of_a_set_is_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A set scored on its test split is asked for one training image per class, so Tiny
    ImageNet's 100,000 training JPEGs are not decoded; with ood_split = "all", every one is."""
    from test_ood_datasets import write_tiny

    from toolkit.data import pictures
    from toolkit.data.digits import load as digits
    from toolkit.tasks.ood_sets import load_sets

    write_tiny(tmp_path, train=4, val=3)  # 3 classes: 12 training and 9 validation images
    seen: list[Path] = []
    fitted = pictures.fitted

    def recording(path: Path, **kwargs: Any) -> Any:
        seen.append(path)
        return fitted(path, **kwargs)

    monkeypatch.setattr(pictures, "fitted", recording)
    table = parse_recipe(recipe(far=[{"name": "tiny_imagenet", "root": str(tmp_path)}])).task.params["far"][0]
    info = digits(0).info
    (found,) = load_sets({"far": [table]}, info, seed=0)
    assert len(found.x) == 9 and sum("train" in p.parts for p in seen) == 3  # one per class
    seen.clear()
    (found,) = load_sets({"far": [table]}, info, seed=0, split="all")
    assert len(found.x) == 21 and sum("train" in p.parts for p in seen) == 12
