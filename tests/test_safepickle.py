"""Data pickles load under either NumPy: NumPy 2 writes ``numpy._core.multiarray`` where
NumPy 1 wrote ``numpy.core.multiarray``, and the shared CIFAR-10 subset was written by
NumPy 2 (a NumPy 1 install could not read it before the two spellings were mapped)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from toolkit.data.safepickle import loads
from toolkit.errors import DataError


def _written_as(module: str) -> bytes:
    """A CIFAR-style batch pickled (protocol 2, as the data set's files are) with its arrays'
    global spelled ``module``."""
    batch = {b"data": np.arange(12, dtype=np.uint8).reshape(2, 6), b"labels": [3, 4]}
    blob = pickle.dumps(batch, protocol=2)
    ours = "numpy._core.multiarray" if b"numpy._core.multiarray" in blob else "numpy.core.multiarray"
    assert ours.encode() in blob
    return blob.replace(f"c{ours}\n".encode(), f"c{module}\n".encode())


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_either_numpy_spelling_loads(module: str) -> None:
    got = loads(_written_as(module), "batch")
    assert got[b"labels"] == [3, 4]
    assert np.array_equal(got[b"data"], np.arange(12, dtype=np.uint8).reshape(2, 6))


def test_another_module_is_still_refused() -> None:
    with pytest.raises(DataError, match=r"refused to load numpy\.lib\.multiarray"):
        loads(_written_as("numpy.lib.multiarray"), "batch")
