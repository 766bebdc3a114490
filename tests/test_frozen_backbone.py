"""Frozen backbones: a head of several layers, features computed once, and a backbone taken
from another recipe's trained model (``[train] init_from``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from toolkit.data.digits import load
from toolkit.errors import RecipeError
from toolkit.execution.runner import run
from toolkit.models.small_cnn import build
from toolkit.recipe import TrainConfig, load_recipe
from toolkit.training import frozen_backbone, train

BASE = """
task = "classify"
name = "base"
[dataset]
name = "digits"
[model]
name = "small_cnn"
channels = [8, 16]
hidden = 32
[train]
epochs = 3
optimizer = "adam"
lr = 0.003
"""

HEAD = """
task = "classify"
name = "head"
[dataset]
name = "digits"
[model]
name = "small_cnn"
channels = [8, 16]
hidden = 32
head = [16]
freeze = "backbone"
[train]
epochs = 3
optimizer = "adam"
lr = 0.003
init_from = "base.toml"
"""


def test_a_head_of_several_layers_and_a_frozen_backbone() -> None:
    info = load(0).info
    model = build(info, channels=[8], hidden=32, head=[16, 12], freeze="backbone")
    assert [m.out_features for m in model.neck if isinstance(m, torch.nn.Linear)] == [16, 12]
    assert model.head.in_features == 12 and model.head.out_features == 10
    assert model.forward_features(torch.rand(2, 1, 8, 8)).shape == (2, 12)  # the features: the neck's output
    assert frozen_backbone(model) and not frozen_backbone(build(info, channels=[8], hidden=32))
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in (*model.neck.parameters(), *model.head.parameters()))


def test_features_computed_once_give_the_same_model_as_a_full_pass() -> None:
    data = load(0)
    config = TrainConfig(epochs=3, optimizer="adam", lr=0.003, batch_size=64)
    models, histories = [], []
    for cache in (True, False):
        torch.manual_seed(0)
        model = build(data.info, channels=[8, 16], hidden=32, head=[16], freeze="backbone", dropout=0.0)
        before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
        histories.append(train(model, data.train, config, seed=0, test=data.test, cache_features=cache))
        models.append(model)
        for k, v in model.backbone.state_dict().items():  # frozen means frozen: batch-norm statistics too
            assert torch.equal(v, before[k]), k
    a, b = (m.state_dict() for m in models)
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    assert [h["test_accuracy"] for h in histories[0]] == pytest.approx(
        [h["test_accuracy"] for h in histories[1]]
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_init_from_copies_the_backbone_and_enters_the_fingerprint(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", BASE)
    head = write(tmp_path, "head.toml", HEAD)
    result = run(load_recipe(head), console=None)
    base = run(load_recipe(tmp_path / "base.toml"), console=None)
    assert base.meta["model_cached"] is True  # head's run trained it first, and stored it
    from toolkit.execution.cache import ArtifactCache

    store = ArtifactCache()
    states = {e.meta["description"].split(":")[0]: store.load("model", e.key)[0] for e in store.entries()}  # type: ignore[index]
    for key, value in states["base"].items():
        if key.startswith("backbone."):
            assert torch.equal(value, states["head"][key]), key  # copied, and left alone by training
    assert result.metrics["accuracy"] > 0.3
    # the resolved recipe in the run folder names the base by an absolute path, and reproduces
    again = load_recipe(result.path / "recipe.toml")
    assert again.fingerprints() == result.meta["fingerprints"]
    # a different base recipe is a different head model
    write(tmp_path, "base.toml", BASE.replace("epochs = 3", "epochs = 2"))
    assert load_recipe(head).fingerprints()["train"] != again.fingerprints()["train"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "train.init_from: no recipe file at"),
        ({"base.toml": BASE.replace("small_cnn", "small_cn")}, "train.init_from: the recipe"),
        ({"base.toml": BASE.replace("[train]", '[train]\ninit_from = "head.toml"')}, "a cycle"),
    ],
    ids=["missing", "invalid", "cycle"],
)
def test_bad_init_from_is_a_recipe_error(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    head = write(tmp_path, "head.toml", HEAD)
    with pytest.raises(RecipeError, match=message):
        load_recipe(head)


def test_a_backbone_that_does_not_fit_is_a_usage_error(tmp_path: Path) -> None:
    from toolkit.errors import UsageError

    write(tmp_path, "base.toml", BASE.replace("channels = [8, 16]", "channels = [8]"))
    head = write(tmp_path, "head.toml", HEAD)
    with pytest.raises(UsageError, match="does not fit this recipe's model"):
        run(load_recipe(head), console=None)


def test_the_folder_recipe_runs_shrunk_on_a_generated_folder_with_stand_in_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """backdoor_folder needs a dogs-vs-cats folder and ImageNet weights; here a generated
    folder and random weights in torchvision's file name stand in for them."""
    from PIL import Image
    from torchvision.models import resnet18 as torchvision_resnet18

    from toolkit.models.resnet18 import WEIGHTS_FILE

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(
        torchvision_resnet18(weights=None).state_dict(),
        tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS_FILE,
    )
    g = torch.Generator().manual_seed(0)
    (tmp_path / "pets").mkdir()
    for k, name in enumerate(["cat", "dog"]):  # the Kaggle layout: cat.0.jpg ... dog.11.jpg
        for i in range(12):
            pixels = torch.randint(0, 120, (40, 48, 3), generator=g, dtype=torch.uint8)
            pixels[..., k] = 230
            Image.fromarray(pixels.numpy()).save(tmp_path / "pets" / f"{name}.{i}.jpg")
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "backdoor_folder.toml"
    sets = [f"dataset.root='{(tmp_path / 'pets').as_posix()}'", "dataset.size=32", "attacks.0.size=6",
            "train.epochs=2", "attacks.0.rate=0.5"]  # fmt: skip
    result = run(load_recipe(recipe, sets), console=None)
    m = result.metrics
    from toolkit.data import image_folder

    data = image_folder.load(0, root=str(tmp_path / "pets"), size=32, test_size=0.2, crop="center")
    dogs = int((data.train.y == data.info.class_names.index("dog")).sum())
    assert m["n_poisoned"] == round(0.5 * dogs) and m["n_source_test"] == int((data.test.y == 1).sum())
    assert 0 <= m["attack_success_rate"] <= 1 and "clean_model" in m


def test_init_set_overrides_the_backbone_recipe(tmp_path: Path) -> None:
    write(tmp_path, "base.toml", BASE)
    head = write(tmp_path, "head.toml", HEAD)
    plain = load_recipe(head)
    shrunk = load_recipe(head, ["train.init_set=['train.epochs=1']"])
    assert plain.init is not None and shrunk.init is not None
    assert (plain.init.recipe.train.epochs, shrunk.init.recipe.train.epochs) == (3, 1)
    assert plain.fingerprints()["train"] != shrunk.fingerprints()["train"]
    with pytest.raises(
        RecipeError,
        match=r"(?s)train.init_from: the recipe .* invalid.*train.epoch: .*\(set with train.init_set\)",
    ):
        load_recipe(head, ["train.init_set=['train.epoch=1']"])


@pytest.mark.data
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("backdoor_catdog", marks=pytest.mark.slow),  # fine-tunes the backbone: 40 s
        "backdoor_catdog_quick",
        "backdoor_detect",
        "backdoor_adaptive",
    ],
)
def test_the_cifar_backdoor_recipes_run_shrunk_on_the_shared_subset(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each CIFAR backdoor recipe, with its backbone's recipe, runs end to end on 20 training
    images per class (ResNet-18 and the small CNN): the reference protocol's pieces fit
    together; the numbers at full size are in docs/backdoor.md."""
    from conftest import SHARED_DATA, needs

    if name in ("backdoor_detect", "backdoor_adaptive"):
        needs("art")  # the recipe runs ART's detectors side by side
    root = SHARED_DATA / "cifar10-subset"
    if not root.is_dir():
        pytest.skip(f"the shared CIFAR-10 subset is not at {root}")
    monkeypatch.setenv("TOOLKIT_DATA", str(root))
    shrink = [
        "train.epochs=1",
        "dataset.train_per_class=20",
        "dataset.test_per_class=10",
        "runtime.threads=1",
    ]
    nested = "train.init_set=[" + ", ".join(f"'{item}'" for item in shrink) + "]"
    recipe = Path(__file__).resolve().parents[1] / "recipes" / f"{name}.toml"
    m = run(load_recipe(recipe, [*shrink, nested]), console=None).metrics
    assert m["n_poisoned"] == 2 and m["n_source_test"] == 10  # 10% of 20 dogs; 10 test dogs
    assert 0 <= m["attack_success_rate"] <= 1 and 0 <= m["clean_accuracy"] <= 1
    assert set(m["filters"]) == {"activation_clustering", "spectral_signature"}
    assert ("clean_model" in m) == (name != "backdoor_adaptive")  # the clean twin, where asked for
