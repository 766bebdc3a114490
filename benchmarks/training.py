"""The training loop's fast paths on this machine: optimizer steps per second of
:func:`toolkit.training.train` with each ``[train]`` switch, as a ratio to the plain loop
measured in the same process.

Variants: ``plain`` (float32, contiguous, eager, per-parameter Adam), ``fused`` (Adam's fused
kernel), ``channels_last``, ``amp = "bf16"``, ``amp = "fp16"`` and ``compile``. Each trains
for ``--epochs`` epochs on random images (CIFAR-10's shape) or features; the first epoch
(which pays for compiling) is left out and the median of the others is kept, over
``--rounds`` rounds that alternate the variants. One torch thread unless ``--threads``.

    python benchmarks/training.py [--models small_cnn resnet18 mlp] [--epochs 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import torch

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "fused": {"fused": True},
    "channels_last": {"channels_last": True},
    "amp_bf16": {"amp": "bf16"},
    "amp_fp16": {"amp": "fp16"},
    "compile": {"compile": True},
}


def setup(name: str, n: int) -> tuple[Any, Any, int]:
    """The model factory, the training split and the batch size of one benchmark model."""
    from toolkit.data.base import DataInfo, Split

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    names = [str(k) for k in range(10)]
    if name == "mlp":
        info = DataInfo("bench", "tabular", (104,), names)
        x = torch.randn(n, 104, generator=g)
        from toolkit.models.mlp import build as mlp

        return (lambda: mlp(info, hidden=[256, 128])), Split(x, y), 256
    info = DataInfo("bench", "image", (3, 32, 32), names)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    if name == "resnet18":
        from toolkit.models.resnet18 import build as resnet

        return (lambda: resnet(info, stem="cifar")), Split(x, y), 64
    from toolkit.models.small_cnn import build as cnn

    return (lambda: cnn(info, channels=[32, 64, 128], hidden=256)), Split(x, y), 128


def steps_per_second(factory: Any, split: Any, batch: int, epochs: int, fast: dict[str, Any]) -> float:
    """Optimizer steps per second after the first epoch (median of the others)."""
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    torch.manual_seed(0)
    config = TrainConfig(epochs=epochs, batch_size=batch, optimizer="adam", lr=1e-3, **fast)
    history = train(factory(), split, config, seed=0)
    steps = -(-len(split) // batch)
    return steps / statistics.median(h["seconds"] for h in history[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small_cnn", "resnet18", "mlp"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, dict[str, float]] = {}
    for model in args.models:
        n = args.samples // 4 if model == "resnet18" else args.samples
        factory, split, batch = setup(model, n)
        rates: dict[str, list[float]] = {v: [] for v in args.variants}
        for _ in range(args.rounds):
            for variant in args.variants:
                try:
                    rate = steps_per_second(factory, split, batch, args.epochs, VARIANTS[variant])
                except Exception as exc:  # a fast path this machine cannot take (no compiler, say)
                    print(f"{model} {variant}: skipped ({type(exc).__name__}: {str(exc)[:120]})")
                    rate = float("nan")
                rates[variant].append(rate)
        plain = statistics.median(rates["plain"])
        results[model] = {v: statistics.median(r) / plain for v, r in rates.items()}
        shown = ", ".join(f"{v} {ratio:.2f}x" for v, ratio in results[model].items())
        print(f"{model} (batch {batch}, plain {plain:.1f} steps/s): {shown}")
    print(json.dumps({"threads": args.threads, "ratio_to_plain": results}, indent=1))


if __name__ == "__main__":
    main()
