"""FGSM and PGD-10: ours, torchattacks and ART, each as a ratio to a minimal hand-written loop.

ResNet-18 (CIFAR stem, eval mode) on random 3x32x32 inputs in [0, 1], eps 8/255, PGD step
2/255, 10 steps, batch 128 by default. The hand-written loop is the least any PGD can do:
one forward and one backward to the input per step, sign step, projection, clip. Every
implementation starts at the clean input (no random start) so all produce the same
images (checked). Medians over interleaved repeats, one process.

    python benchmarks/attacks.py [--batch 128] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from toolkit.attacks.art_adapter import ART
from toolkit.attacks.fgsm import FGSM
from toolkit.attacks.pgd import PGD
from toolkit.attacks.torchattacks_adapter import TorchAttacks
from toolkit.data.base import DataInfo
from toolkit.models.resnet18 import build

EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 10


def hand_written(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> torch.Tensor:
    """The minimal loop: gradient to the input only, sign step, project, clip."""
    adv = x.clone()
    alpha = EPS if steps == 1 else ALPHA
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (g,) = torch.autograd.grad(loss, adv)
        adv = (x + (adv.detach() + alpha * g.sign() - x).clamp(-EPS, EPS)).clamp(0, 1)
    return adv.detach()


def timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-art", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    info = DataInfo(
        "bench", "image", (3, 32, 32), [str(k) for k in range(10)], mean=(0.5,) * 3, std=(0.25,) * 3
    )
    model = build(info).eval()
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))

    cases: dict[str, dict[str, Callable[[], torch.Tensor]]] = {
        "FGSM": {
            "hand-written": lambda: hand_written(model, x, y, 1),
            "toolkit": lambda: FGSM(eps=EPS)(model, x, y),
            "torchattacks": lambda: TorchAttacks(attack="FGSM", params={"eps": EPS})(model, x, y),
            "ART": lambda: ART(attack="FastGradientMethod", params={"eps": EPS, "batch_size": args.batch})(
                model, x, y
            ),
        },
        "PGD-10": {
            "hand-written": lambda: hand_written(model, x, y, STEPS),
            "toolkit": lambda: PGD(eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)(model, x, y),
            "torchattacks": lambda: TorchAttacks(
                attack="PGD", params={"eps": EPS, "alpha": ALPHA, "steps": STEPS, "random_start": False}
            )(model, x, y),
            "ART": lambda: ART(
                attack="ProjectedGradientDescent",
                params={
                    "eps": EPS,
                    "eps_step": ALPHA,
                    "max_iter": STEPS,
                    "num_random_init": 0,
                    "batch_size": args.batch,
                },
            )(model, x, y),
        },
    }
    for attack, impls in cases.items():
        if args.no_art:
            impls.pop("ART")
        times: dict[str, list[float]] = {k: [] for k in impls}
        outputs: dict[str, torch.Tensor] = {}
        for fn in impls.values():  # one untimed round: allocator and kernel warm-up
            fn()
        for _ in range(args.repeats):
            for name, fn in impls.items():
                seconds, outputs[name] = timed(fn)
                times[name].append(seconds)
        ref = statistics.median(times["hand-written"])
        print(f"\n{attack} (batch {args.batch}, {args.threads} threads)")
        print(f"{'implementation':14s} {'median s':>9s} {'ratio':>7s} {'max |diff| vs hand-written':>28s}")
        for name, values in times.items():
            diff = float((outputs[name] - outputs["hand-written"]).abs().max())
            med = statistics.median(values)
            print(f"{name:14s} {med:9.3f} {med / ref:7.2f} {diff:28.2e}")


if __name__ == "__main__":
    main()
