"""Bad CIFAR-10 files: a crafted pickle runs no code, and every malformed file is a
DataError naming the file (issue: safe data loading)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from test_vision_data import write_cifar

from toolkit.data import cifar10
from toolkit.errors import DataError


class Payload:
    """What an attacker puts in a batch file: unpickling it would create ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (os.mkdir, (str(self.target),))


def rewrite(path: Path, obj: object) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


@pytest.mark.parametrize("name", ["data_batch_1", "test_batch", "batches.meta"])
def test_a_crafted_pickle_runs_no_code(tmp_path: Path, name: str) -> None:
    folder = write_cifar(tmp_path)
    target = tmp_path / "pwned"
    rewrite(folder / name, {b"data": Payload(target), b"labels": [0], b"label_names": Payload(target)})
    with (
        pickle_loads_would_run(target),
        pytest.raises(
            DataError, match=rf"{name}: refused to load posix\.mkdir|{name}: refused to load os\.mkdir"
        ),
    ):
        cifar10.load(0, root=str(tmp_path))
    assert not target.exists(), "unpickling ran the payload"


class pickle_loads_would_run:
    """Proves the payload is live: plain pickle.load would run it (then undoes that)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __enter__(self) -> None:
        pickle.loads(pickle.dumps(Payload(self.target)))
        assert self.target.exists()
        self.target.rmdir()

    def __exit__(self, *exc: object) -> None:
        return None


def batch(data: object, labels: object) -> dict[bytes, object]:
    return {b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": []}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2, 3], "expected a dict with data and labels, found list"),
        (
            batch(np.zeros((2, 32, 32, 3), np.uint8), [0, 1]),
            r"data must be uint8 of shape \(N, 3072\), found uint8 \(2, 32, 32, 3\)",
        ),
        (
            batch(np.zeros((2, 3072), np.float32), [0, 1]),
            r"data must be uint8 of shape \(N, 3072\), found float32",
        ),
        (batch(np.zeros((2, 3072), np.uint8), [0, -1]), r"labels must lie in 0\.\.9, found -1\.\.0"),
        (batch(np.zeros((2, 3072), np.uint8), [0, 10]), r"labels must lie in 0\.\.9, found 0\.\.10"),
        (batch(np.zeros((2, 3072), np.uint8), [0]), r"2 images but labels of shape \(1,\)"),
        (batch(np.zeros((2, 3072), np.uint8), ["a", "b"]), "labels are not integers"),
    ],
    ids=[
        "list",
        "channels-last",
        "float-pixels",
        "label-minus-one",
        "label-ten",
        "short-labels",
        "text-labels",
    ],
)
def test_malformed_batches_name_the_file(tmp_path: Path, content: object, message: str) -> None:
    folder = write_cifar(tmp_path)
    rewrite(folder / "data_batch_3", content)
    with pytest.raises(DataError, match=f"data_batch_3.*{message}"):
        cifar10.load(0, root=str(tmp_path))


def test_a_missing_training_batch_is_an_error(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataError, match="missing data_batch_5; CIFAR-10 has 5 training batches"):
        cifar10.load(0, root=str(tmp_path))


@pytest.mark.parametrize(
    "content", [b"\x80\x04\x95", pickle.dumps({b"num_vis": 3072}), pickle.dumps({b"label_names": [1, 2]})]
)
def test_malformed_meta_names_the_file(tmp_path: Path, content: bytes) -> None:
    folder = write_cifar(tmp_path)
    (folder / "batches.meta").write_bytes(content)
    with pytest.raises(DataError, match=r"batches\.meta"):
        cifar10.load(0, root=str(tmp_path))
