"""The shipped OpenOOD v1.5 recipe runs, shrunk with --set, on generated files in the real
layouts of all seven data sets (no download): every set is read, converted to CIFAR-10's
shape, scored and averaged into its group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_ood_datasets import write_cifar100, write_dtd, write_mnist, write_places, write_svhn, write_tiny
from test_vision_data import write_cifar

from toolkit.execution.runner import run
from toolkit.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_the_openood_recipe_runs_shrunk_on_every_data_set_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    write_cifar(data)
    write_cifar100(data)
    write_tiny(data)
    write_mnist(data)
    write_svhn(data)
    write_dtd(data)
    write_places(data)
    monkeypatch.setenv("TOOLKIT_DATA", str(data))
    recipe = load_recipe(
        ROOT / "recipes" / "ood_openood_cifar10.toml",
        ["train.epochs=1", "runtime.threads=1", "train.compile=false", "evaluate.ood_samples=12"],
    )
    result = run(recipe, out_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", console=None)
    m = result.metrics
    assert {k: v["group"] for k, v in m["sets"].items()} == {
        "cifar100": "near", "tiny_imagenet": "near",
        "mnist": "far", "svhn": "far", "textures": "far", "places365": "far",
    }  # fmt: skip
    detectors = {"msp", "max_logit", "energy", "odin", "mahalanobis", "knn", "vim"}
    for key, found in m["sets"].items():
        assert set(found["detectors"]) == detectors, key
        assert 0 < found["n"] <= 12
    for group, keys in (
        ("near", ["cifar100", "tiny_imagenet"]),
        ("far", ["mnist", "svhn", "textures", "places365"]),
    ):
        for d in detectors:
            mean = np.mean([m["sets"][k]["detectors"][d]["auroc"] for k in keys])
            assert m["groups"][group][d]["auroc"] == pytest.approx(mean)
    log = (result.path / "log.txt").read_text()
    assert "mnist, test split" in log and "as (3, 32, 32)" in log  # gray 28x28 made CIFAR's shape
