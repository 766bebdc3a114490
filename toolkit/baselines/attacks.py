"""FGSM and PGD in IBM ART and torchattacks against ours, on the same model and inputs.

Our FGSM and PGD (no random start, ``steps`` steps of ``alpha``) and the libraries' with
the same settings attack the same inputs within the data's input domain; FGSM must give the
same robust accuracy exactly, PGD within one percentage point (floating-point order differs
between implementations). Each comparison also reports the largest pixel difference between
the two sets of adversarial examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.protocols import bind
from toolkit.results import Table

LIBRARIES = {"art": ("fgsm", "pgd"), "torchattacks": ("fgsm", "pgd")}
TOLERANCE = {"fgsm": 0.0, "pgd": 0.01}


def attack_in_batches(
    attack: Any, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Adversarial examples for every sample, ``batch_size`` at a time, and the targets a
    targeted attack chose (its ``targets_`` after each call; ``None`` when untargeted)."""
    adv, targets = [], []
    for i in range(0, len(x), batch_size):
        adv.append(attack(model, x[i : i + batch_size], y[i : i + batch_size]))
        chosen = getattr(attack, "targets_", None)  # toolkit.declarations: targets_
        if chosen is not None:
            targets.append(chosen.cpu())
    return torch.cat(adv), (torch.cat(targets) if targets else None)


def reference_attacks(
    eps: float, steps: int, alpha: float, batch_size: int
) -> tuple[dict[str, Any], dict[tuple[str, str], Callable[[], Any]]]:
    """Our FGSM and PGD (no random start), and the libraries' with the same settings.

    Returns:
        Ours by attack name, and per ``(library, attack)`` a function that creates theirs.
    """
    from toolkit.attacks.art_adapter import ART
    from toolkit.attacks.fgsm import FGSM
    from toolkit.attacks.pgd import PGD
    from toolkit.attacks.torchattacks_adapter import TorchAttacks

    ours = {"fgsm": FGSM(eps=eps), "pgd": PGD(eps=eps, alpha=alpha, steps=steps, random_start=False)}
    pgd = {"eps": eps, "eps_step": alpha, "max_iter": steps, "num_random_init": 0, "batch_size": batch_size}
    theirs: dict[tuple[str, str], Callable[[], Any]] = {
        ("torchattacks", "fgsm"): lambda: TorchAttacks(attack="FGSM", params={"eps": eps}),
        ("torchattacks", "pgd"): lambda: TorchAttacks(
            attack="PGD", params={"eps": eps, "alpha": alpha, "steps": steps, "random_start": False}
        ),
        ("art", "fgsm"): lambda: ART(attack="FastGradientMethod", params={"eps": eps}),
        ("art", "pgd"): lambda: ART(attack="ProjectedGradientDescent", params=pgd),
    }
    return ours, theirs


def compare_attacks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    info: DataInfo,
    requested: dict[str, list[str]],
    eps: float,
    batch_size: int,
    predict: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    log: Callable[[str], None],
) -> tuple[dict[str, Any], Table]:
    """The libraries' FGSM/PGD against ours on ``model`` and ``x``: metrics and a table.

    Args:
        model: the attacked model.
        x: model inputs (on the model's device).
        y: their labels.
        info: the data's description (every attack moves inputs within its input domain).
        requested: per library, the attacks asked for (``[baselines]``).
        eps: the budget; PGD takes 10 steps of ``eps / 4``.
        batch_size: inputs per attack batch.
        predict: the predicted classes of a model for model inputs (on the CPU).
        log: where a disagreement is reported.
    """
    from toolkit.metrics.robustness import robust_accuracy

    steps, alpha = 10, eps / 4
    ours, makers = reference_attacks(eps, steps, alpha, batch_size)
    y_np = y.cpu().numpy()
    mine: dict[str, tuple[float, torch.Tensor]] = {}
    for name in {a for names in requested.values() for a in names}:
        x_adv, _ = attack_in_batches(bind(ours[name], info), model, x, y, batch_size)
        mine[name] = (robust_accuracy(y_np, predict(model, x_adv).numpy()), x_adv)
    out: dict[str, Any] = {"eps": eps, "pgd_steps": steps, "pgd_alpha": alpha,
                           "toolkit": {a: v[0] for a, v in mine.items()}}  # fmt: skip
    rows = []
    for library, names in requested.items():
        out[library] = {}
        for name in names:
            x_ref, _ = attack_in_batches(bind(makers[(library, name)](), info), model, x, y, batch_size)
            acc = robust_accuracy(y_np, predict(model, x_ref).numpy())
            out[library][name], row = _agreement(library, name, acc, x_ref, mine[name])
            rows.append(row)
            if not out[library][name]["agrees"]:
                log(f"{library} {name} disagrees with ours: {acc:.4f} vs {mine[name][0]:.4f}")
    return out, _table(eps, steps, alpha, rows)


def _agreement(
    library: str, attack: str, acc: float, x_ref: torch.Tensor, mine: tuple[float, torch.Tensor]
) -> tuple[dict[str, Any], list[Any]]:
    """A library's robust accuracy against ours: the record and its table row."""
    diff = acc - mine[0]
    agrees = bool(abs(diff) <= TOLERANCE[attack] + 1e-12)
    max_pixel = float((x_ref - mine[1]).abs().max())
    record = {"robust_accuracy": acc, "difference": diff, "agrees": agrees, "max_pixel_difference": max_pixel}
    return record, [f"{library} {attack}", mine[0], acc, diff, max_pixel, "yes" if agrees else "NO"]


def _table(eps: float, steps: int, alpha: float, rows: list[list[Any]]) -> Table:
    return Table(
        title=f"Reference libraries, same model and images "
        f"(eps {eps:.4g}; PGD {steps} steps of {alpha:.4g}, no random start)",
        columns=["attack", "toolkit robust acc.", "reference robust acc.", "difference",
                 "max pixel difference", "agrees"],
        rows=rows,
    )  # fmt: skip


__all__ = ["LIBRARIES", "attack_in_batches", "compare_attacks"]
