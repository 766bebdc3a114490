"""Backdoor work against the reference: head training, and poison filters against IBM ART's.

1. Head training on a frozen backbone: features computed once vs a full forward pass each step.

Both train the same two-layer head of a frozen small CNN (the backbone of
``backdoor_catdog_quick``: channels 32, 64, 128, features 256, head 128) on CIFAR-sized
``uint8`` images with Adam for ``--epochs`` epochs, and end with identical weights:

- ``cached``: :func:`toolkit.training.train` as a run calls it (``runtime.cache_features``):
  one pass of the backbone, then the epochs on its features;
- ``full``: the same call with ``cache_features=False``, the backbone run on every batch.

Seconds per training (median of interleaved repeats, one process, one thread) and the ratio.

2. Activation clustering and spectral signatures, ours against ART's (``cluster_activations``
   with the relative-size rule; ``spectral_signature_scores`` with its quantile cut) on the
   same random features (``--samples`` x 256, two classes, 10% shifted), median seconds and
   the ratio ART / ours.

    python benchmarks/backdoor.py [--images 2000] [--epochs 10] [--samples 5000] [--repeats 3]
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
    parser.add_argument("--samples", type=int, default=5000)
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
    filters(args.samples, args.repeats)


def filters(samples: int, repeats: int) -> None:
    """Our filters against ART's on the same features."""
    import numpy as np

    from toolkit.baselines import art_poison
    from toolkit.defenses.poison_scores import activation_clusters, spectral_flags

    rng = np.random.default_rng(0)
    features = rng.normal(size=(samples, 256))
    labels = rng.integers(0, 2, samples)
    truth = rng.random(samples) < 0.1
    features[truth, :8] += 3.0
    runs = {
        "activation clustering, ours": lambda: activation_clusters(
            features, labels, reduce="pca", dims=10, clusters=2, size_threshold=0.35, seed=0
        ),
        "activation clustering, ART": lambda: art_poison.activation_defence(
            features, labels, truth, dims=10, clusters=2, size_threshold=0.35, seeds=1
        ),
        "spectral signatures, ours": lambda: spectral_flags(
            features, labels, expected_rate=0.1, multiplier=1.5
        ),
        "spectral signatures, ART": lambda: art_poison.spectral_signature(
            features, labels, truth, expected_rate=0.1, multiplier=1.5
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    for method in ("activation clustering", "spectral signatures"):
        ours, art = med[f"{method}, ours"], med[f"{method}, ART"]
        print(f"{method}: ours {ours:.3f} s, ART {art:.3f} s (ART / ours {art / ours:.2f})")


if __name__ == "__main__":
    main()
