"""CIFAR-10 from files in the original pickle layout, image folders, and ResNet-18."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, needs

from toolkit.data import cifar10, image_folder
from toolkit.errors import DataError, UsageError
from toolkit.testing import check_dataset


def write_cifar(root: Path, per_class_train: int = 6, per_class_test: int = 3) -> Path:
    """A tiny CIFAR-10 in the real on-disk layout: pickled dicts of bytes keys."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(labels: list[int]) -> dict[bytes, object]:
        data = np.zeros((len(labels), 3072), dtype=np.uint8)
        for i, label in enumerate(labels):
            data[i] = rng.integers(0, 256, 3072)
            data[i, 0] = label * 20  # the first red pixel encodes the class, to check the order
        return {b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"f"] * len(labels)}

    train_labels = [k for k in range(10) for _ in range(per_class_train)]
    for i in range(5):
        with open(folder / f"data_batch_{i + 1}", "wb") as fh:
            pickle.dump(batch(train_labels[i::5]), fh)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump(batch([k for k in range(10) for _ in range(per_class_test)]), fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [n.encode() for n in cifar10.CLASS_NAMES], b"num_vis": 3072}, fh)
    return folder


def test_reads_the_pickle_layout(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    b = cifar10.load(0, root=str(tmp_path))
    assert b.train.x.shape == (60, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert b.test.x.shape == (30, 3, 32, 32) and b.ood is None
    assert torch.equal(b.train.x[:, 0, 0, 0].long(), b.train.y * 20)  # pixels and labels stay paired
    assert b.info.class_names == cifar10.CLASS_NAMES and b.info.mean is not None
    # the folder itself works as root, and TOOLKIT_DATA is the default
    assert len(cifar10.load(0, root=str(tmp_path / "cifar-10-batches-py")).train) == 60
    check_dataset(cifar10.load, params={"root": str(tmp_path), "holdout": ["frog"]})


def test_default_root_is_toolkit_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path / "data")
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path / "data"))
    assert len(cifar10.load(0).train) == 60


def test_holdout_classes_and_subsampling(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    b = cifar10.load(0, root=str(tmp_path), holdout=["frog"])
    assert b.info.num_classes == 9 and "frog" not in b.info.class_names and b.info.holdout == ["frog"]
    assert b.ood is not None and set(b.ood.y.tolist()) == {6} and len(b.ood) == 3
    assert torch.equal(b.ood.x[:, 0, 0, 0].long(), torch.full((3,), 120))
    assert not (b.train.x[:, 0, 0, 0] == 120).any()  # no frog in training
    pets = cifar10.load(0, root=str(tmp_path), classes=["cat", "dog", "bird"], holdout=["dog"])
    assert pets.info.class_names == ["bird", "cat"] and pets.ood is not None and len(pets.ood) == 3
    two = cifar10.load(0, root=str(tmp_path), classes=["cat", "dog", 0])
    assert two.info.class_names == ["airplane", "cat", "dog"]
    small = cifar10.load(0, root=str(tmp_path), train_per_class=2, test_per_class=1)
    assert torch.bincount(small.train.y).tolist() == [2] * 10 and len(small.test) == 10
    again = cifar10.load(0, root=str(tmp_path), train_per_class=2)
    other = cifar10.load(1, root=str(tmp_path), train_per_class=2)
    assert torch.equal(again.train.x, small.train.x) and not torch.equal(other.train.x, small.train.x)
    by_index = cifar10.load(0, root=str(tmp_path), classes=[1, 3, 5], holdout=[1])  # indices of all ten
    assert by_index.info.holdout == ["automobile"] and by_index.info.class_names == ["cat", "dog"]
    assert by_index.ood is not None and set(by_index.ood.y.tolist()) == {0}
    with pytest.raises(DataError, match=r"not among dataset\.classes"):
        cifar10.load(0, root=str(tmp_path), classes=["cat", "dog"], holdout=["frog"])


def test_missing_data_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        cifar10.load(0, root=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "download = true" in message and "TOOLKIT_DATA" in message


def test_corrupt_batch_file(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch: not a readable pickle"):
        cifar10.load(0, root=str(tmp_path))


@pytest.mark.data
def test_shared_subset() -> None:
    root = SHARED_DATA / "cifar10-subset"
    if not root.is_dir():
        pytest.skip(f"the shared CIFAR-10 subset is not at {root}")
    b = cifar10.load(0, root=str(root), holdout=["frog"])
    assert (len(b.train), len(b.test), len(b.ood or [])) == (9000, 1800, 200)


def write_folder(root: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in (("cat", 0), ("dog", 1), ("fox", 2)):
        (root / name).mkdir(parents=True)
        for i in range(5):
            array = rng.integers(0, 60, (20 + i, 24, 3), dtype=np.uint8)
            array[..., colour] = 250
            Image.fromarray(array).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")


def test_image_folder(tmp_path: Path) -> None:
    write_folder(tmp_path / "pets")
    b = image_folder.load(0, root=str(tmp_path / "pets"), size=16, test_size=0.4, holdout=["fox"])
    assert b.info.class_names == ["cat", "dog"] and b.info.holdout == ["fox"]
    assert b.train.x.shape[1:] == (3, 16, 16) and b.train.x.dtype == torch.uint8
    # each class keeps its dominant colour channel after resizing
    for split in (b.train, b.test):
        for x, y in zip(split.x, split.y, strict=True):
            assert int(x.float().mean(dim=(1, 2)).argmax()) == int(y)
    gray = image_folder.load(0, root=str(tmp_path / "pets"), size=8, grayscale=True)
    assert gray.train.x.shape[1:] == (1, 8, 8)
    check_dataset(image_folder.load, params={"root": str(tmp_path / "pets"), "size": 8, "test_size": 0.4})
    with pytest.raises(DataError, match="not a folder"):
        image_folder.load(0, root=str(tmp_path / "missing"))


def test_resnet18_stems_freeze_and_missing_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.data.synthetic import load
    from toolkit.models import resnet18

    info = load(0, modality="image", image_size=16).info
    cifar = resnet18.build(info)
    assert cifar.backbone[0].kernel_size == (3, 3) and isinstance(cifar.backbone[3], torch.nn.Identity)
    out = cifar(torch.rand(2, 1, 16, 16))
    assert out.shape == (2, 4)
    imagenet = resnet18.build(info, stem="imagenet")
    assert imagenet.backbone[0].kernel_size == (7, 7)
    frozen = resnet18.build(info, freeze="backbone")
    # without ImageNet weights (a backbone from init_from, say) the whole backbone is frozen
    assert not [n for n, p in frozen.backbone.named_parameters() if p.requires_grad]
    # with them, a replaced first convolution (CIFAR stem, or not 3 channels) has none: it trains
    from torchvision.models import resnet18 as torchvision_resnet18

    weights = tmp_path / "weights.pth"
    torch.save(torchvision_resnet18(weights=None).state_dict(), weights)
    monkeypatch.setattr(resnet18, "weights_path", lambda: weights)
    pretrained = resnet18.build(info, freeze="backbone", pretrained=True)
    assert [n for n, p in pretrained.backbone.named_parameters() if p.requires_grad] == ["0.weight"]
    frozen_imagenet = resnet18.build(
        load(0, modality="image", image_size=16, n_features=3).info, stem="imagenet", freeze="backbone"
    )
    assert not [n for n, p in frozen_imagenet.backbone.named_parameters() if p.requires_grad]
    monkeypatch.undo()
    assert all(p.requires_grad for p in frozen.head.parameters())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(UsageError) as err:
        resnet18.build(info, pretrained=True)
    assert str(tmp_path / "hub" / "checkpoints" / resnet18.WEIGHTS_FILE) in str(err.value)
    assert "pretrained = false" in str(err.value)
    with pytest.raises(UsageError, match="needs image data"):
        resnet18.build(load(0).info)


def test_resnet18_loads_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import resnet18 as tv_resnet18

    from toolkit.data.synthetic import load
    from toolkit.models import resnet18

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    reference = tv_resnet18(weights=None)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), resnet18.weights_path())
    info = load(0, modality="image", image_size=16, n_features=3).info
    info.input_shape = (3, 16, 16)
    model = resnet18.build(info, pretrained=True, stem="imagenet")
    assert torch.equal(model.backbone[4][0].conv1.weight, reference.layer1[0].conv1.weight)
    assert torch.equal(model.backbone[0].weight, reference.conv1.weight)


def test_timm_model_exposes_features_and_head() -> None:
    needs("timm")
    from toolkit.data.synthetic import load
    from toolkit.models import timm_model
    from toolkit.testing import check_model

    info = load(0, modality="image", image_size=16).info
    model = timm_model.build(info, arch="resnet18")
    assert model.forward_features(torch.rand(2, 1, 16, 16)).shape == (2, 512)
    assert model(torch.rand(2, 1, 16, 16)).shape == (2, 4)
    check_model(timm_model.build, params={"arch": "resnet18"})
    with pytest.raises(UsageError, match="no architecture 'resnet81'"):
        timm_model.build(info, arch="resnet81")


def test_image_folder_flat_names_and_center_crops(tmp_path: Path) -> None:
    """The Kaggle dogs-vs-cats layout (cat.1.jpg, dog.7.jpg in one folder), and center crops
    that keep the aspect ratio."""
    from PIL import Image

    flat = tmp_path / "train"
    flat.mkdir()
    for i in range(4):
        # wide images: a white middle third between black sides, so a center crop is all white
        array = np.zeros((10, 30, 3), dtype=np.uint8)
        array[:, 10:20] = 255
        Image.fromarray(array).save(flat / f"cat.{i}.png")
        Image.fromarray(255 - array).save(flat / f"dog.{i}.png")
    (flat / "notes.txt").write_text("ignored")
    b = image_folder.load(0, root=str(flat), size=10, crop="center", test_size=0.5)
    assert b.info.class_names == ["cat", "dog"] and len(b.train) + len(b.test) == 8
    for split in (b.train, b.test):
        for x, y in zip(split.x, split.y, strict=True):
            assert (x == (255 if int(y) == 0 else 0)).all()  # the centre third only
    squashed = image_folder.load(0, root=str(flat), size=10, test_size=0.5)
    assert not (squashed.train.x == 255).all() and not (squashed.train.x == 0).all()
    with pytest.raises(DataError, match="needs at least two class sub-folders, found 0"):
        image_folder.load(0, root=str(flat), layout="folders")
    for p in flat.glob("dog.*"):
        p.unlink()
    with pytest.raises(DataError, match=r"neither class sub-folders nor images named .*found 1 class name"):
        image_folder.load(0, root=str(flat))
