"""Reading CIFAR-10's pickle files safely vs ``pickle.load``.

- ``toolkit``: :func:`toolkit.data.safepickle.load` (an allow-list unpickler that runs no code
  from the file) on every batch file, then :func:`toolkit.data.cifar10.load` as a run calls it
  (validation of shapes, dtypes and labels, the split, and the data digest that enters the
  cache key).
- ``pickle``: :func:`pickle.load` with ``encoding="bytes"`` on the same files (what
  torchvision's ``CIFAR10`` does, without any check).

Seconds per pass (median of interleaved repeats, one process) and the ratios. Needs the
files: ``--root`` (default ``../shared/data/cifar10-subset``).

    python benchmarks/cifar_loading.py [--root DIR] [--repeats 5]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from pathlib import Path

from toolkit.data import cifar10, safepickle
from toolkit.data.digest import data_digest

FILES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]


def plain(folder: Path) -> None:
    for name in FILES:
        with open(folder / name, "rb") as fh:
            pickle.load(fh, encoding="bytes")


def safe(folder: Path) -> None:
    for name in FILES:
        safepickle.load(folder / name)


def full(root: Path) -> None:
    data_digest(cifar10.load(0, root=str(root)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).parents[2] / "shared/data/cifar10-subset")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = args.root / "cifar-10-batches-py"
    if not folder.is_dir():
        raise SystemExit(f"no CIFAR-10 files at {folder}; pass --root")
    times: dict[str, list[float]] = {"pickle": [], "safe": [], "full": []}
    for _ in range(args.repeats):
        for name, fn, arg in (("pickle", plain, folder), ("safe", safe, folder), ("full", full, args.root)):
            start = time.perf_counter()
            fn(arg)
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["pickle"]
    print(f"pickle.load, 6 files:            {base:.3f} s")
    print(f"restricted unpickler, 6 files:   {med['safe']:.3f} s  (ratio {med['safe'] / base:.2f})")
    print(f"cifar10.load + checks + digest:  {med['full']:.3f} s  (ratio {med['full'] / base:.2f})")


if __name__ == "__main__":
    main()
