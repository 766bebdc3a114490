"""The OpenOOD v1.5 CIFAR-10 benchmark's other data sets (CIFAR-100, SVHN, MNIST, Textures,
Tiny ImageNet, Places365), read from small files written here in each release's real on-disk
format: pickles, MATLAB files, IDX files (plain and gzipped) and JPEGs."""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from toolkit.data import cifar100, mnist, pictures, places365, svhn, textures, tiny_imagenet
from toolkit.data.base import Split
from toolkit.errors import DataError
from toolkit.registry import registry
from toolkit.testing import check_dataset

# --------------------------------------------------------------------------- writers


def write_cifar100(root: Path, train: int = 3, test: int = 2) -> tuple[Path, dict[str, np.ndarray]]:
    """``cifar-100-python/`` as the release has it: Python-2 era pickles (protocol 2) of bytes
    keys; the coarse label of fine class ``k`` is ``k // 5`` here. Returns the folder and the
    data written."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name, per_class in (("train", train), ("test", test)):
        fine = [k for _ in range(per_class) for k in range(100)]
        data = rng.integers(0, 256, (len(fine), 3072), dtype=np.uint8)
        content = {
            b"filenames": [b"x.png"] * len(fine),
            b"batch_label": name.encode(),
            b"fine_labels": fine,
            b"coarse_labels": [k // 5 for k in fine],
            b"data": data,
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(content, fh, protocol=2)
        written[name] = data
    meta = {
        b"fine_label_names": [f"fine_{k:02d}".encode() for k in range(100)],
        b"coarse_label_names": [f"coarse_{k:02d}".encode() for k in range(20)],
    }
    with open(folder / "meta", "wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return folder, written


def write_svhn(root: Path, train: int = 4, test: int = 2) -> tuple[Path, dict[str, np.ndarray]]:
    """``train_32x32.mat`` and ``test_32x32.mat``: ``X`` (32, 32, 3, N) uint8, ``y`` (N, 1)
    with 10 for the digit 0; pixel (0, 0) of channel 0 is ``digit * 20 + 5``."""
    from scipy.io import savemat

    folder = root / "svhn"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for name, per_class in (("train", train), ("test", test)):
        digits = np.array([d for _ in range(per_class) for d in range(10)])
        x = rng.integers(0, 256, (32, 32, 3, len(digits)), dtype=np.uint8)
        x[0, 0, 0] = digits * 20 + 5
        y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
        savemat(folder / f"{name}_32x32.mat", {"X": x, "y": y})
        written[name] = x
    return folder, written


def idx(magic: int, array: np.ndarray) -> bytes:
    """An IDX file: big-endian magic number and sizes, then the bytes."""
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(root: Path, train: int = 4, test: int = 2) -> tuple[Path, dict[str, np.ndarray]]:
    """torchvision's ``MNIST/raw/``: the training files gzipped, the test files plain."""
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    written = {}
    for prefix, per_class, zipped in (("train", train, True), ("t10k", test, False)):
        labels = np.array([d for _ in range(per_class) for d in range(10)], dtype=np.uint8)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels * 20
        for name, blob in (
            (f"{prefix}-images-idx3-ubyte", idx(2051, images)),
            (f"{prefix}-labels-idx1-ubyte", idx(2049, labels)),
        ):
            if zipped:
                (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (folder / name).write_bytes(blob)
        written[prefix] = images
    return folder, written


def flat(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> None:
    """A JPEG of one colour (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)


COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
TEXTURES = ["banded", "dotted", "zigzagged"]


def write_dtd(root: Path, nested: bool = True, per_class: int = 6) -> Path:
    """``dtd/dtd/images/<class>/*.jpg`` (torchvision's nesting) with partitions 1 and 2: the
    first two images of a class train, the next two validate, the rest test in partition 1."""
    folder = root / "dtd" / "dtd" if nested else root / "dtd"
    lists: dict[str, list[str]] = {}
    for c, (name, colour) in enumerate(zip(TEXTURES, COLOURS, strict=True)):
        for i in range(per_class):
            flat(folder / "images" / name / f"{name}_{i:04d}.jpg", colour, (40 + 4 * i, 30 + c))
            for partition, first in ((1, 0), (2, 2)):
                part = ("train", "train", "val", "val", "test", "test")[(i - first) % 6]
                lists.setdefault(f"{part}{partition}.txt", []).append(f"{name}/{name}_{i:04d}.jpg")
    (folder / "images" / "dotted" / ".directory").write_text("[Dolphin]\n")  # as the real release has
    (folder / "labels").mkdir()
    for file, lines in lists.items():
        (folder / "labels" / file).write_text("\n".join(lines) + "\n")
    return folder


WNIDS = ["n01443537", "n02012849", "n03000134"]
WORDS = {"n01443537": "goldfish, Carassius auratus", "n02012849": "crane", "n03000134": "crane, lifter"}


def write_tiny(root: Path, train: int = 4, val: int = 3) -> Path:
    """``tiny-imagenet-200/`` with three classes (two named ``crane``); the validation
    annotations interleave the classes, and each image has its class's colour."""
    folder = root / "tiny-imagenet-200"
    folder.mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    words = ["n00001740\tentity", *(f"{w}\t{WORDS[w]}" for w in WNIDS), "n09999999\tsomething, else"]
    (folder / "words.txt").write_text("\n".join(words) + "\n")
    for wnid, colour in zip(WNIDS, COLOURS, strict=True):
        for i in range(train):
            flat(folder / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", colour, (64, 64))
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t63\t63\n")
    lines = []
    for i in range(val * len(WNIDS)):
        label = (2 * i + 1) % len(WNIDS)
        flat(folder / "val" / "images" / f"val_{i}.JPEG", COLOURS[label], (64, 64))
        lines.append(f"val_{i}.JPEG\t{WNIDS[label]}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return folder


CATEGORIES = ["/a/airfield 0", "/g/general_store/indoor 1", "/b/bamboo_forest 2"]


def write_places(root: Path, per_class: int = 4, images: str = "val_256") -> Path:
    """torchvision's Places365 validation layout: the two file lists and ``val_256/``."""
    folder = root / "places365"
    folder.mkdir(parents=True)
    (folder / "categories_places365.txt").write_text("\n".join(CATEGORIES) + "\n")
    lines = []
    for i in range(per_class * len(CATEGORIES)):
        label = (i * 2) % len(CATEGORIES)
        name = f"Places365_val_{i + 1:08d}.jpg"
        flat(folder / images / name, COLOURS[label], (48, 36))
        lines.append(f"{name} {label}")
    (folder / "places365_val.txt").write_text("\n".join(lines) + "\n")
    return folder


def colour_of(x: torch.Tensor) -> torch.Tensor:
    """Each image's mean colour ``(N, 3)``."""
    return x.float().mean(dim=(2, 3))


def assert_colours(split: Split, tolerance: float = 6.0) -> None:
    """Every decoded image has the colour of its label's class (flat JPEGs, lossy)."""
    x, y = split.x, split.y
    assert isinstance(x, torch.Tensor)
    expected = torch.tensor(COLOURS, dtype=torch.float32)[y]
    assert (colour_of(x) - expected).abs().max() <= tolerance
    assert (x.float() - expected[:, :, None, None]).abs().max() <= 2 * tolerance  # flat, not just on average


# --------------------------------------------------------------------------- CIFAR-100


def test_cifar100_fine_and_coarse_labels(tmp_path: Path) -> None:
    folder, written = write_cifar100(tmp_path)
    fine = cifar100.load(0, root=str(tmp_path))
    assert fine.train.x.shape == (300, 3, 32, 32) and fine.train.x.dtype == torch.uint8
    assert fine.info.class_names[:2] == ["fine_00", "fine_01"] and fine.info.num_classes == 100
    assert torch.equal(fine.train.x, torch.from_numpy(written["train"]).reshape(-1, 3, 32, 32))  # exact
    assert torch.equal(fine.test.x, torch.from_numpy(written["test"]).reshape(-1, 3, 32, 32))
    assert fine.test.y.tolist() == [k for _ in range(2) for k in range(100)]
    coarse = cifar100.load(0, root=str(folder), labels="coarse")  # the folder itself as root
    assert coarse.info.num_classes == 20 and coarse.info.class_names[-1] == "coarse_19"
    assert torch.equal(coarse.train.y, fine.train.y // 5) and torch.equal(coarse.train.x, fine.train.x)
    check_dataset(cifar100.load, params={"root": str(tmp_path), "labels": "coarse", "holdout": ["coarse_03"]})


def test_cifar100_holdout_classes_and_subsampling(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    b = cifar100.load(
        0,
        root=str(tmp_path),
        classes=["fine_07", "fine_01", "fine_03"],
        holdout=["fine_03"],
        train_per_class=2,
    )
    assert b.info.class_names == ["fine_01", "fine_07"] and b.info.holdout == ["fine_03"]
    assert torch.bincount(b.train.y).tolist() == [2, 2] and len(b.test) == 4
    assert b.ood is not None and b.ood.y.tolist() == [1, 1]
    assert b.ood_class_names == ["fine_01", "fine_03", "fine_07"]  # ood labels index the kept classes
    again = cifar100.load(0, root=str(tmp_path), train_per_class=1)
    other = cifar100.load(1, root=str(tmp_path), train_per_class=1)
    assert len(again.train) == 100 and not torch.equal(again.train.x, other.train.x)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("label", r"cifar-100-python/train: fine_labels must lie in 0\.\.99, found 0\.\.100"),
        ("meta", r"cifar-100-python: missing meta"),
        (
            "coarse",
            r"cifar-100-python/test is not a CIFAR-100 batch file: expected a dict with data and fine_labels",
        ),
    ],
)
def test_cifar100_bad_files_name_the_file(tmp_path: Path, damage: str, message: str) -> None:
    folder, written = write_cifar100(tmp_path)
    if damage == "label":
        content = {b"data": written["train"], b"fine_labels": [100] + [0] * 299, b"coarse_labels": [0] * 300}
        (folder / "train").write_bytes(pickle.dumps(content, protocol=2))
    elif damage == "meta":
        (folder / "meta").unlink()
    else:
        (folder / "test").write_bytes(pickle.dumps({b"data": written["test"], b"coarse_labels": [0] * 200}))
    with pytest.raises(DataError, match=message):
        cifar100.load(0, root=str(tmp_path))


# --------------------------------------------------------------------------- SVHN


def test_svhn_maps_ten_to_zero_and_keeps_the_pixels(tmp_path: Path) -> None:
    folder, written = write_svhn(tmp_path)
    b = svhn.load(0, root=str(tmp_path))
    assert b.info.class_names == [str(d) for d in range(10)]
    assert b.train.x.shape == (40, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert b.train.y.tolist() == [d for _ in range(4) for d in range(10)]  # the file's 10 is 0
    assert torch.equal(b.train.x[:, 0, 0, 0].long(), b.train.y * 20 + 5)
    x = torch.from_numpy(written["test"])  # (H, W, C, N): pixel (row 5, column 7) of channel 2
    assert torch.equal(b.test.x[:, 2, 5, 7], x[5, 7, 2, :]) and torch.equal(
        b.test.x[:, 1, 30, 2], x[30, 2, 1, :]
    )
    same = svhn.load(0, root=str(folder))  # the folder itself as root
    assert torch.equal(same.test.x, b.test.x)
    small = svhn.load(3, root=str(tmp_path), holdout=["0"], train_per_class=2, test_per_class=1)
    assert torch.bincount(small.train.y).tolist() == [2] * 9 and len(small.test) == 9
    assert small.ood is not None and small.ood.y.tolist() == [0] and int(small.ood.x[0, 0, 0, 0]) == 5
    check_dataset(svhn.load, params={"root": str(tmp_path), "holdout": [0], "test_per_class": 1})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"X": np.zeros((32, 32, 3, 2), np.uint8)}, r"train_32x32\.mat: no variable y"),
        ({"y": np.ones((2, 1), np.uint8)}, r"train_32x32\.mat: no variable X"),
        (
            {"X": np.zeros((2, 32, 32, 3), np.uint8), "y": np.ones((2, 1))},
            r"X must be uint8 of shape \(32, 32, 3, N\)",
        ),
        (
            {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [11]])},
            r"y must hold the labels 1\.\.10",
        ),
        ({"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.ones((3, 1))}, r"2 images but y is"),
    ],
    ids=["no-y", "no-X", "channels-first", "label-11", "short-y"],
)
def test_svhn_bad_mat_files_name_the_file(tmp_path: Path, content: dict, message: str) -> None:
    from scipy.io import savemat

    folder, _ = write_svhn(tmp_path)
    savemat(folder / "train_32x32.mat", content)
    with pytest.raises(DataError, match=message):
        svhn.load(0, root=str(tmp_path))


def test_svhn_a_file_that_is_not_matlab_names_the_file(tmp_path: Path) -> None:
    folder, _ = write_svhn(tmp_path)
    (folder / "test_32x32.mat").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"test_32x32\.mat: not a readable MATLAB file"):
        svhn.load(0, root=str(tmp_path))


# --------------------------------------------------------------------------- MNIST


def test_mnist_reads_plain_and_gzipped_idx_files(tmp_path: Path) -> None:
    folder, written = write_mnist(tmp_path)
    for root in (tmp_path, tmp_path / "MNIST", folder):
        b = mnist.load(0, root=str(root))
        assert b.train.x.shape == (40, 1, 28, 28) and b.test.x.shape == (20, 1, 28, 28)
        assert b.train.x.dtype == torch.uint8 and b.info.class_names == [str(d) for d in range(10)]
        assert torch.equal(b.train.x[:, 0], torch.from_numpy(written["train"]))  # gzipped, exact
        assert torch.equal(b.test.x[:, 0], torch.from_numpy(written["t10k"]))  # plain, exact
        assert b.test.y.tolist() == [d for _ in range(2) for d in range(10)]
    small = mnist.load(0, root=str(tmp_path), classes=["3", "7", 9], holdout=[9], test_per_class=1)
    assert small.info.class_names == ["3", "7"] and len(small.train) == 8 and len(small.test) == 2
    assert small.ood is not None and small.ood.y.tolist() == [2] and small.ood_class_names == ["3", "7", "9"]
    check_dataset(mnist.load, params={"root": str(folder), "holdout": ["9"], "train_per_class": 2})


@pytest.fixture
def mnist_in_data_root(tmp_path: Path) -> None:
    write_mnist(tmp_path / "data")  # conftest points TOOLKIT_DATA there


@pytest.mark.usefixtures("mnist_in_data_root")
def test_mnist_default_root_is_toolkit_data() -> None:
    assert len(mnist.load(0).train) == 40


def _truncate(folder: Path) -> str:
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    return r"t10k-images-idx3-ubyte: truncated: its header says \(20, 28, 28\) \(15680 bytes\) but it holds 15670"


def _bad_gzip(folder: Path) -> str:
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    return r"train-labels-idx1-ubyte\.gz: cannot read the file"


def _swapped(folder: Path) -> str:
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx(2051, np.zeros((20, 28, 28), np.uint8)))
    return r"t10k-labels-idx1-ubyte: not an IDX file of MNIST labels: magic number 2051, expected 2049"


def _short_labels(folder: Path) -> str:
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx(2049, np.zeros(19, np.uint8)))
    return r"t10k-labels-idx1-ubyte: 19 labels for the 20 images"


def _label_ten(folder: Path) -> str:
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx(2049, np.full(20, 10, np.uint8)))
    return r"t10k-labels-idx1-ubyte: labels must lie in 0\.\.9, found 10"


def _missing(folder: Path) -> str:
    (folder / "t10k-labels-idx1-ubyte").unlink()
    return r"raw: missing t10k-labels-idx1-ubyte \(plain or \.gz\)"


def _not_28(folder: Path) -> str:
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx(2051, np.zeros((20, 32, 32), np.uint8)))
    return r"t10k-images-idx3-ubyte: images of 32x32 pixels; MNIST images are 28x28"


@pytest.mark.parametrize(
    "damage", [_truncate, _bad_gzip, _swapped, _short_labels, _label_ten, _missing, _not_28]
)
def test_mnist_bad_idx_files_name_the_file(tmp_path: Path, damage: Callable[[Path], str]) -> None:
    folder, _ = write_mnist(tmp_path)
    message = damage(folder)
    with pytest.raises(DataError, match=message):
        mnist.load(0, root=str(tmp_path))


# --------------------------------------------------------------------------- Textures (DTD)


def test_textures_reads_a_partition_of_the_nested_layout(tmp_path: Path) -> None:
    write_dtd(tmp_path)
    b = textures.load(0, root=str(tmp_path))
    assert b.info.class_names == TEXTURES and b.train.x.shape == (12, 3, 32, 32)  # train + val lists
    assert b.test.x.shape == (6, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert b.test.y.tolist() == [0, 0, 1, 1, 2, 2]
    assert_colours(b.train)
    assert_colours(b.test)
    two = textures.load(0, root=str(tmp_path / "dtd"), partition=2, size=16, crop="resize")
    assert two.test.x.shape == (6, 3, 16, 16) and len(two.train) == 12
    assert_colours(two.test)
    check_dataset(textures.load, params={"root": str(tmp_path), "holdout": ["dotted"], "size": 8})


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths of the images decoded from now on, in order."""
    seen: list[Path] = []
    fitted = pictures.fitted

    def recording(path: Path, **kwargs: object) -> np.ndarray:
        seen.append(path)
        return fitted(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pictures, "fitted", recording)
    return seen


def test_textures_decode_the_images_their_partition_lists(tmp_path: Path, decoded: list[Path]) -> None:
    folder = write_dtd(tmp_path)
    b = textures.load(0, root=str(tmp_path), partition=2, size=8)
    listed = {
        part: [folder / "images" / line for line in (folder / "labels" / f"{part}2.txt").read_text().split()]
        for part in ("train", "val", "test")
    }
    assert decoded == listed["train"] + listed["val"] + listed["test"]  # train + val, then test
    assert [p.name for p in listed["test"][:2]] == ["banded_0000.jpg", "banded_0001.jpg"]
    assert b.test.y.tolist() == [0, 0, 1, 1, 2, 2]


def test_textures_without_label_files_splits_every_image(tmp_path: Path) -> None:
    folder = write_dtd(tmp_path, nested=False)
    for path in (folder / "labels").iterdir():
        path.unlink()
    (folder / "labels").rmdir()
    b = textures.load(0, root=str(folder), size=8)  # the folder itself as root
    assert len(b.train) + len(b.test) == 18 and torch.bincount(b.test.y).tolist() == [2, 2, 2]
    assert_colours(b.test)


def test_textures_subsample_before_decoding(tmp_path: Path, decoded: list[Path]) -> None:
    write_dtd(tmp_path)
    b = textures.load(
        0, root=str(tmp_path), train_per_class=1, test_per_class=1, classes=["banded", "zigzagged"]
    )
    assert len(decoded) == 4 and len(b.train) == 2 and b.info.class_names == ["banded", "zigzagged"]
    assert_colours(b.train.subset(b.train.y == 0))  # banded keeps its colour
    assert {p.parent.name for p in decoded} == {"banded", "zigzagged"}


def test_textures_bad_lists_name_the_file_and_line(tmp_path: Path) -> None:
    folder = write_dtd(tmp_path)
    (folder / "images" / "dotted" / "dotted_0004.jpg").unlink()
    with pytest.raises(
        DataError, match=r"test1\.txt line 3: lists the image .*dotted_0004\.jpg, which does not exist"
    ):
        textures.load(0, root=str(tmp_path))
    (folder / "labels" / "val2.txt").write_text("banded/banded_0002.jpg\nstriped/striped_0001.jpg\n")
    with pytest.raises(
        DataError, match=r"val2\.txt line 2: 'striped/striped_0001\.jpg' is not <class>/<image>"
    ):
        textures.load(0, root=str(tmp_path), partition=2)
    with pytest.raises(DataError, match=r"missing .*test3\.txt of partition 3"):
        textures.load(0, root=str(tmp_path), partition=3)


# --------------------------------------------------------------------------- Tiny ImageNet


def test_tiny_imagenet_train_folders_and_val_annotations(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path)
    b = tiny_imagenet.load(0, root=str(tmp_path))
    assert b.info.class_names == ["goldfish", "crane (n02012849)", "crane (n03000134)"]
    assert b.train.x.shape == (12, 3, 32, 32) and b.train.x.dtype == torch.uint8
    assert b.train.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert b.test.y.tolist() == [(2 * i + 1) % 3 for i in range(9)]  # in annotation order
    assert_colours(b.train)
    assert_colours(b.test)  # each annotation gave its image's class
    big = tiny_imagenet.load(0, root=str(folder), size=64, crop="resize")  # the folder itself as root
    assert big.test.x.shape == (9, 3, 64, 64)
    held = tiny_imagenet.load(
        0, root=str(tmp_path), holdout=["goldfish"], test_per_class=2, train_per_class=1
    )
    assert held.ood is not None and held.ood.y.tolist() == [0, 0] and len(held.train) == 2
    check_dataset(tiny_imagenet.load, params={"root": str(tmp_path), "holdout": [2], "size": 8})


def test_tiny_imagenet_unknown_wnid_names_the_line(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path)
    path = folder / "val" / "val_annotations.txt"
    lines = path.read_text().splitlines()
    lines[2] = "val_2.JPEG\tn04999999\t0\t0\t63\t63"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"val_annotations\.txt line 3: unknown wnid 'n04999999' \(not in wnids\.txt\)"
    ):
        tiny_imagenet.load(0, root=str(tmp_path))


def test_tiny_imagenet_other_bad_files(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path)
    (folder / "val" / "images" / "val_4.JPEG").unlink()
    with pytest.raises(DataError, match=r"val_annotations\.txt line 5: lists the image .*val_4\.JPEG"):
        tiny_imagenet.load(0, root=str(tmp_path))
    (folder / "words.txt").write_text("n01443537\tgoldfish\n")
    with pytest.raises(DataError, match=r"words\.txt: no names for n02012849, n03000134"):
        tiny_imagenet.load(0, root=str(tmp_path))


def test_tiny_imagenet_cannot_be_downloaded_and_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"cannot be downloaded by the toolkit: download http://cs231n\.stanford\.edu/tiny-imagenet-200\.zip",
    ):
        tiny_imagenet.load(0, root=str(tmp_path / "none"), download=True)


# --------------------------------------------------------------------------- Places365


def test_places365_splits_the_validation_release(tmp_path: Path) -> None:
    write_places(tmp_path)
    b = places365.load(0, root=str(tmp_path))
    assert b.info.class_names == ["airfield", "general_store/indoor", "bamboo_forest"]
    assert b.train.x.shape == (6, 3, 32, 32) and len(b.test) == 6 and b.train.x.dtype == torch.uint8
    assert torch.bincount(b.train.y).tolist() == [2, 2, 2] and torch.bincount(b.test.y).tolist() == [2, 2, 2]
    assert_colours(b.train)
    assert_colours(b.test)
    quarter = places365.load(0, root=str(tmp_path / "places365"), test_size=0.25, holdout=["bamboo_forest"])
    assert len(quarter.test) == 2 and quarter.ood is not None and quarter.ood.y.tolist() == [2]
    check_dataset(places365.load, params={"root": str(tmp_path), "size": 8, "test_per_class": 1})


def test_places365_reads_val_large_too(tmp_path: Path) -> None:
    write_places(tmp_path, images="val_large")
    b = places365.load(0, root=str(tmp_path), size=16, crop="resize", train_per_class=1)
    assert b.train.x.shape == (3, 3, 16, 16)
    assert_colours(b.test)


def test_places365_bad_lists_name_the_file_and_line(tmp_path: Path) -> None:
    folder = write_places(tmp_path)
    with (folder / "places365_val.txt").open("a") as fh:
        fh.write("Places365_val_00000013.jpg 3\n")
    with pytest.raises(
        DataError, match=r"places365_val\.txt line 13: expected '<file> <index>' with an index in 0\.\.2"
    ):
        places365.load(0, root=str(tmp_path))
    (folder / "categories_places365.txt").write_text("/a/airfield 0\nbamboo 1\n")
    with pytest.raises(
        DataError, match=r"categories_places365\.txt line 2: expected '/<letter>/<category> <index>'"
    ):
        places365.load(0, root=str(tmp_path))


# --------------------------------------------------------------------------- all six


WRITERS: dict[str, Callable[[Path], object]] = {
    "cifar100": write_cifar100,
    "svhn": write_svhn,
    "mnist": write_mnist,
    "textures": write_dtd,
    "tiny_imagenet": write_tiny,
    "places365": write_places,
}
SMALL = {"textures": {"size": 8}, "tiny_imagenet": {"size": 8}, "places365": {"size": 8}}


@pytest.mark.parametrize("name", list(WRITERS))
def test_each_loads_through_the_registry(tmp_path: Path, name: str) -> None:
    entry = registry("datasets").get(name)
    assert entry.dist == "trustworthy-ml-toolkit" and entry.builtin
    WRITERS[name](tmp_path)
    bundle = registry("datasets").load(name)(0, root=str(tmp_path), **SMALL.get(name, {}))
    assert bundle.info.modality == "image" and bundle.info.name == name and len(bundle.test) > 0


@pytest.mark.parametrize(
    ("name", "looked"),
    [
        ("cifar100", "cifar-100-python/"),
        ("svhn", r"train_32x32\.mat and test_32x32\.mat"),
        ("mnist", "MNIST/raw/"),
        ("textures", "dtd/images/"),
        ("tiny_imagenet", "tiny-imagenet-200/"),
        ("places365", r"categories_places365\.txt, places365_val\.txt"),
    ],
)
def test_a_missing_release_says_where_it_looked_and_how_to_fix_it(
    tmp_path: Path, name: str, looked: str
) -> None:
    where = tmp_path / "empty"
    where.mkdir()
    load = registry("datasets").load(name)
    with pytest.raises(
        DataError,
        match=rf"not found: looked for {looked}.* in {re.escape(str(where))}\. Set dataset\.root or TOOLKIT_DATA",
    ) as err:
        load(0, root=str(where))
    fix = "cs231n.stanford.edu" if name == "tiny_imagenet" else "dataset.download = true"
    assert fix in str(err.value) and " MB" in str(err.value)


# --------------------------------------------------------------------------- lists that lead outside


@pytest.mark.parametrize("entry", ["../../secret.jpg", "/etc/passwd"])
def test_a_list_entry_that_leads_outside_the_release_is_refused(tmp_path: Path, entry: str) -> None:
    from toolkit.data import places365, textures, tiny_imagenet

    dtd = write_dtd(tmp_path / "a")
    (dtd / "labels" / "test1.txt").write_text(
        f"banded/../{entry}\n" if entry.startswith("..") else f"{entry}\n"
    )
    with pytest.raises(DataError, match=r"test1\.txt line 1: .* (leads outside|is not <class>/<image>)"):
        textures.load(0, root=str(tmp_path / "a"))
    tiny = write_tiny(tmp_path / "b")
    (tiny / "val" / "val_annotations.txt").write_text(f"{entry}\t{WNIDS[0]}\t0\t0\t63\t63\n")
    with pytest.raises(DataError, match=r"val_annotations\.txt line 1: .* leads outside"):
        tiny_imagenet.load(0, root=str(tmp_path / "b"))
    places = write_places(tmp_path / "c")
    (places / "places365_val.txt").write_text(f"{entry} 0\n")
    with pytest.raises(DataError, match=r"places365_val\.txt line 1: .* leads outside"):
        places365.load(0, root=str(tmp_path / "c"))


def test_a_list_that_is_not_text_names_the_file(tmp_path: Path) -> None:
    from toolkit.data import places365

    places = write_places(tmp_path)
    (places / "places365_val.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match=r"places365_val\.txt: not UTF-8 text"):
        places365.load(0, root=str(tmp_path))
