"""How well does a poisoning attack work? Clean accuracy and attack success rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from toolkit.data.inputs import batches, num_samples, take, to_model_input
from toolkit.results import Table, TaskResult


class Problem(NamedTuple):
    """A problem with a recipe (the shape of ``toolkit.errors.Problem``)."""

    path: str
    message: str


def _predict(model: torch.nn.Module, x: Any, batch_size: int = 256) -> torch.Tensor:
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for _, xb in batches(x, batch_size):
            xb = to_model_input(xb)
            xb = {k: v.to(device) for k, v in xb.items()} if isinstance(xb, Mapping) else xb.to(device)
            out.append(model(xb).argmax(1).cpu())
    return torch.cat(out)


def _differs(a: Any, b: Any) -> torch.Tensor:
    """Per sample: whether the inputs differ (tensors or mappings of tensors)."""
    if isinstance(a, Mapping):
        return torch.stack([_differs(a[k], b[k]) for k in a]).any(dim=0)
    return (a != b).flatten(1).any(dim=1)


class PoisonSuccess:
    """Clean test accuracy of the model trained on the poisoned data, and for each poisoning
    attack the attack success rate: the share of test samples not of the attack's target
    class that its trigger makes the model predict as the target.

    Args:
        n: test samples evaluated (default: all).
    """

    uses = ("model", "train", "attacks", "defenses", "detectors")
    requires = ("attacks",)

    def __init__(self, *, n: int = 0) -> None:
        self.n = n

    @classmethod
    def check(cls, recipe: Any) -> list[Problem]:
        """Every attack must be a poisoning attack."""
        return [
            Problem(
                f"attacks.{i}.name",
                f"the kinds_poison_success task needs poisoning attacks; '{spec.name}' is {spec.family}",
            )
            for i, spec in enumerate(recipe.section("attacks"))
            if spec.family != "poisoning"
        ]

    def run(self, ctx: Any) -> TaskResult:
        clean, trained_on = ctx.data(), ctx.training_data()
        model = ctx.model().eval()
        test = clean.test
        count = num_samples(test.x) if self.n <= 0 else min(self.n, num_samples(test.x))
        x, y = take(test.x, slice(0, count)), test.y[:count]
        accuracy = float((_predict(model, x) == y).float().mean())
        n_clean, n_trained = len(clean.train), len(trained_on.train)
        changed = -1  # unknown when the number of samples changed
        if n_clean == n_trained:
            moved = _differs(clean.train.x, trained_on.train.x) | (clean.train.y != trained_on.train.y)
            changed = int(moved.sum())
        metrics: dict[str, Any] = {
            "clean_accuracy": accuracy,
            "train_samples": n_trained,
            "changed_train_samples": changed,
            "poisoned": len(trained_on.extras.get("poisoned", [])),
            "attacks": {},
        }
        rows = []
        for i, spec in enumerate(ctx.recipe.family("attacks", "poisoning")):
            attack = ctx.build(spec)
            target = int(getattr(attack, "target", 0))
            keep = y != target
            triggered = attack.trigger(take(x, keep))
            rate = (
                float((_predict(model, triggered) == target).float().mean())
                if bool(keep.any())
                else float("nan")
            )
            label = ctx.recipe.label("attacks", i)
            metrics["attacks"][label] = {"target": target, "success_rate": rate, "n": int(keep.sum())}
            rows.append([label, target, int(keep.sum()), rate])
        table = Table(
            title=f"Poisoning: clean accuracy {accuracy:.4f}",
            columns=["attack", "target", "n", "attack success rate"],
            rows=rows,
        )
        return TaskResult(metrics=metrics, tables=[table])
