"""Scoring a test split with every detector: one shared forward pass vs one pass per detector.

The run computes each split's logits and penultimate features once
(``toolkit.outputs.Outputs``) and every detector reads them. The alternative, what
per-detector scripts do, is a fresh forward pass for each detector. Both score the same
splits with msp, max_logit, energy, mahalanobis, knn and vim (odin needs gradients and
its own passes either way, so it is left out), on a small CNN and CIFAR-sized inputs.

    python benchmarks/ood_detectors.py [--n 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from toolkit.data.base import DataInfo
from toolkit.models.small_cnn import build
from toolkit.outputs import Outputs
from toolkit.registry import registry

DETECTORS = {
    "msp": {},
    "max_logit": {},
    "energy": {},
    "mahalanobis": {},
    "knn": {"k": 50},
    "vim": {"dim": 64},
}


def run(
    model: torch.nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, shared: bool
) -> float:
    started = time.perf_counter()
    train = Outputs(model, train_x, y=train_y)
    test = Outputs(model, test_x)
    for name, params in DETECTORS.items():
        if not shared:  # a fresh pass over both splits for every detector
            train = Outputs(model, train_x, y=train_y)
            test = Outputs(model, test_x)
        det = registry("detectors").load(name)(**params).fit(model, train)
        det.score(model, test)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=4000, help="images per split")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    info = DataInfo(
        "bench", "image", (3, 32, 32), [str(k) for k in range(10)], mean=(0.5,) * 3, std=(0.25,) * 3
    )
    torch.manual_seed(0)
    model = build(info, channels=[32, 64, 128], hidden=256).eval()
    train_x = torch.randint(0, 256, (args.n, 3, 32, 32), dtype=torch.uint8)
    train_y = torch.randint(0, 10, (args.n,))
    test_x = torch.randint(0, 256, (args.n, 3, 32, 32), dtype=torch.uint8)
    shared, separate = [], []
    for _ in range(args.repeats):
        shared.append(run(model, train_x, train_y, test_x, True))
        separate.append(run(model, train_x, train_y, test_x, False))
    a, b = statistics.median(shared), statistics.median(separate)
    print(f"{len(DETECTORS)} detectors, {args.n} training and {args.n} test images")
    print(f"one shared forward pass   {a:7.2f} s")
    print(f"one pass per detector     {b:7.2f} s")
    print(f"\nsharing is {b / a:.1f}x faster")


if __name__ == "__main__":
    main()
