"""Head training on a frozen backbone: features computed once vs a full forward pass each step.

Both train the same two-layer head of a frozen small CNN (the backbone of
``backdoor_catdog_quick``: channels 32, 64, 128, features 256, head 128) on CIFAR-sized
``uint8`` images with Adam for ``--epochs`` epochs, and end with identical weights:

- ``cached``: :func:`toolkit.training.train` as a run calls it (``runtime.cache_features``):
  one pass of the backbone, then the epochs on its features;
- ``full``: the same call with ``cache_features=False``, the backbone run on every batch.

Seconds per training (median of interleaved repeats, one process, one thread) and the ratio.

    python benchmarks/backdoor.py [--images 2000] [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from toolkit.data.base import DataInfo, Split
from toolkit.models.small_cnn import build
from toolkit.recipe import TrainConfig
from toolkit.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 2, (args.images,), generator=g)
    info = DataInfo(name="bench", modality="image", input_shape=(3, 32, 32), class_names=["a", "b"],
                    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
    config = TrainConfig(epochs=args.epochs, batch_size=64, optimizer="adam", lr=0.001)
    times: dict[bool, list[float]] = {True: [], False: []}
    weights = {}
    for _ in range(args.repeats):
        for cache in (True, False):
            torch.manual_seed(0)
            model = build(info, channels=[32, 64, 128], hidden=256, head=[128], freeze="backbone")
            start = time.perf_counter()
            train(model, Split(x, y), config, seed=0, cache_features=cache)
            times[cache].append(time.perf_counter() - start)
            weights[cache] = model.head.weight.detach().clone()
    cached, full = statistics.median(times[True]), statistics.median(times[False])
    same = torch.allclose(weights[True], weights[False], atol=1e-6)
    print(f"features once:     {cached:.2f} s")
    print(f"full forward pass: {full:.2f} s  ({full / cached:.1f}x slower; same weights: {same})")


if __name__ == "__main__":
    main()
