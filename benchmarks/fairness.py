"""Adversarial debiasing: our defense vs a plain-PyTorch port of the protocol vs fairlearn.

Three implementations of the same adversarial-debiasing idea on the same Adult split, in
one process, one torch thread:

- ``toolkit``: ``AdversarialDebiasing`` (whole in-memory tensors, fused Adam).
- ``port``: the tutorial's protocol written the way the tutorial writes it (a
  ``DataLoader`` over a ``TensorDataset``, sigmoid outputs with ``BCELoss``, the adversary
  trained on the classifier's live outputs batch by batch).
- ``fairlearn``: ``AdversarialFairnessClassifier`` trained for the same number of passes
  over the training split as the adversary makes (a different algorithm; timed for scale).

Each is timed over ``--iterations`` rounds (default 20) after the same pretraining, with
repeats interleaved; the report gives medians and ratios to the port.

    python benchmarks/fairness.py [--iterations 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from toolkit.data.adult import load
from toolkit.defenses.adversarial_debiasing import AdversarialDebiasing
from toolkit.models.mlp import build
from toolkit.recipe import TrainConfig
from toolkit.training import train


def pretrained(data, seed: int) -> nn.Module:  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    model = build(data.info, hidden=[32, 32, 32], dropout=0.2)
    train(model, data.train, TrainConfig(epochs=2, batch_size=32, optimizer="adam", lr=0.001), seed=seed)
    return model


def ours(data, model: nn.Module, iterations: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    AdversarialDebiasing(iterations=iterations, pretrain_epochs=0).train(model, data, seed=seed)
    return time.perf_counter() - started


def port(data, model: nn.Module, iterations: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    """The protocol as the tutorial writes it: DataLoader batches, BCELoss on sigmoid outputs."""
    torch.manual_seed(seed)
    x, y = data.train.x, data.train.y.float().unsqueeze(1)
    z = torch.stack([data.train.groups["race"], data.train.groups["sex"]], dim=1).float()
    loader = DataLoader(TensorDataset(x, y, z), batch_size=32, shuffle=True, drop_last=True)
    lambdas = torch.tensor([130.0, 30.0])

    def clf(inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(inputs), dim=1)[:, 1:]

    layers: list[nn.Module] = [nn.Linear(1, 32), nn.ReLU()]
    for _ in range(2):
        layers += [nn.Linear(32, 32), nn.ReLU()]
    adv = nn.Sequential(*layers, nn.Linear(32, 2), nn.Sigmoid())
    adv_loss = nn.BCELoss(reduction="none")
    clf_loss = nn.BCELoss()
    opt_adv = torch.optim.Adam(adv.parameters())
    opt_clf = torch.optim.Adam(model.parameters())
    model.train()
    started = time.perf_counter()
    for _ in range(iterations):
        for xb, _yb, zb in loader:
            p = clf(xb)
            adv.zero_grad()
            loss = (adv_loss(adv(p), zb) * lambdas).mean()
            loss.backward()
            opt_adv.step()
        xb, yb, zb = next(iter(loader))
        p = clf(xb)
        model.zero_grad()
        loss = clf_loss(p, yb) - (adv_loss(adv(p), zb) * lambdas).mean()
        loss.backward()
        opt_clf.step()
    return time.perf_counter() - started


def fairlearn_afc(data, iterations: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    from toolkit.baselines.fairlearn import adversarial

    _, seconds = adversarial(
        data.train.x.numpy(), data.train.y.numpy(), data.train.groups["sex"].numpy(), data.test.x.numpy(),
        seed=seed, epochs=iterations,
    )  # fmt: skip
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-fairlearn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load(0)
    base = pretrained(data, 0)
    times: dict[str, list[float]] = {"port": [], "toolkit": [], "fairlearn": []}
    for r in range(args.repeats):
        for name in times:
            model = pretrained(data, 0) if name != "fairlearn" else base
            if name == "port":
                times[name].append(port(data, model, args.iterations, r))
            elif name == "toolkit":
                times[name].append(ours(data, model, args.iterations, r))
            elif not args.no_fairlearn:
                times[name].append(fairlearn_afc(data, args.iterations, r))
    ref = statistics.median(times["port"])
    rows = len(data.train)
    print(f"{args.iterations} rounds (each: one adversary epoch over {rows} rows + one classifier batch)")
    print(f"{'implementation':12s} {'median s':>9s} {'vs port':>8s}")
    for name, values in times.items():
        if values:
            med = statistics.median(values)
            print(f"{name:12s} {med:9.2f} {med / ref:8.2f}x")


if __name__ == "__main__":
    main()
