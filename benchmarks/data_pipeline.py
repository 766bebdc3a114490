"""Batched in-memory augmentation vs torchvision's per-sample transforms through a DataLoader.

Both produce augmented CIFAR-sized batches (random crop 32 with zero padding 4, horizontal
flip, images as floats in [0, 1]) for one epoch:

- ``toolkit``: the uint8 tensor in memory, ``toolkit.augment`` on whole uint8 batches, then
  conversion to floats (what the training loop does).
- ``torchvision``: a ``Dataset`` that applies ``RandomCrop(32, padding=4)`` and
  ``RandomHorizontalFlip()`` to one image tensor at a time, batched by a ``DataLoader``
  (``num_workers=0``, as on a 2-core machine).

Images per second (median of interleaved repeats, one process) and the ratio.

    python benchmarks/data_pipeline.py [--images 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from toolkit.augment import batch_augmentation
from toolkit.data.inputs import to_model_input as to_input


class PerSample(Dataset):  # type: ignore[type-arg]
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from torchvision import transforms

        self.x, self.y = x, y
        self.transform = transforms.Compose(
            [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.x[i]).float().div_(255), self.y[i]


def ours(x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    augment = batch_augmentation(["random_crop", "hflip"], padding=4)
    assert augment is not None
    g = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    order = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), batch):
        idx = order[i : i + batch]
        to_input(augment(x[idx], g))  # as the training loop does: augment uint8, then convert
    return len(y) / (time.perf_counter() - started)


def theirs(x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    loader = DataLoader(PerSample(x, y), batch_size=batch, shuffle=True, num_workers=0)
    started = time.perf_counter()
    for _ in loader:
        pass
    return len(y) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (args.images,))
    a, b = [], []
    for _ in range(args.repeats):
        a.append(ours(x, y, args.batch))
        b.append(theirs(x, y, args.batch))
    mine, ref = statistics.median(a), statistics.median(b)
    print(f"{'pipeline':28s} {'images/s':>10s}")
    print(f"{'toolkit (batched tensors)':28s} {mine:10.0f}")
    print(f"{'torchvision per sample':28s} {ref:10.0f}")
    print(f"\nbatched augmentation is {mine / ref:.1f}x faster")


if __name__ == "__main__":
    main()
