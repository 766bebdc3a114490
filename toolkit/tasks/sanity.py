"""The sanity checks of a robustness evaluation (Carlini et al. 2019, "On evaluating
adversarial robustness", section 5), computed on every evasion run.

Each check raises a flag when the evaluation, not the model, is the likely reason for a
high robust accuracy (gradient masking, too few steps, a broken attack):

- ``iterative_weaker_than_single_step``: at some budget, an iterative attack (PGD, ``steps``
  above 1) leaves a higher robust accuracy than a single-step one (FGSM);
- ``success_not_increasing``: an attack's robust accuracy rises with its budget;
- ``above_chance_at_large_budget``: PGD with a budget that covers the whole input domain
  (every pixel may take any value; for unbounded features, the range the inputs span)
  leaves the accuracy above chance (1 / classes);
- ``zero_or_nonfinite_gradients``: the input gradient of the loss is zero for most
  samples, or not finite for any;
- ``black_box_beats_white_box``: a black-box attack beats every white-box one at a budget
  (only where the recipe has an attack that declares ``black_box = True``; otherwise the
  check does not apply).

Two more are the checks the reference AutoAttack package runs before it attacks (Croce &
Hein 2020, ``autoattack/checks.py``; torchattacks' AutoAttack runs none), on one batch:

- ``randomized_outputs``: two forward passes in eval mode on the same inputs give other
  logits (a randomized defense: evaluate it with ``version = "rand"``, expectation over
  transformation);
- ``outputs_are_probabilities``: the outputs lie in ``[0, 1]`` and sum to 1 (softmax
  outputs: the cross-entropy and DLR losses of the attacks lose their gradients; the model
  should return logits).

A margin of ``tolerance`` (default 0.01, one point of accuracy) keeps noise from raising a
flag. The result of each check is ``{"flag": true | false | null, "detail": "..."}``
(``null``: the check does not apply to this recipe's attacks).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from toolkit.data.base import DataInfo

__all__ = ["CHECKS", "sanity_checks"]

#: The checks, in the order the report lists them.
CHECKS = (
    "iterative_weaker_than_single_step",
    "success_not_increasing",
    "above_chance_at_large_budget",
    "zero_or_nonfinite_gradients",
    "black_box_beats_white_box",
    "randomized_outputs",
    "outputs_are_probabilities",
)


def sanity_checks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    attacks: Mapping[str, Mapping[str, Any]],
    kinds: Mapping[str, str],
    info: DataInfo,
    batch_size: int = 256,
    tolerance: float = 0.01,
) -> dict[str, dict[str, Any]]:
    """Every check on ``model`` and the evasion results ``attacks``.

    Args:
        model: the model the attacks ran on.
        x: the model inputs the attacks ran on.
        y: their labels.
        attacks: per attack label, its ``eps`` and ``robust_accuracy`` lists.
        kinds: per attack label, ``"single"`` (one step), ``"iterative"``, ``"black_box"``
            or ``"other"``.
        info: the data's description (its classes and input domain).
        batch_size: samples per batch of the large-budget attack.
        tolerance: the margin of accuracy below which nothing is flagged.
    """
    return {
        "iterative_weaker_than_single_step": _iterative(attacks, kinds, tolerance),
        "success_not_increasing": _monotone(attacks, tolerance),
        "above_chance_at_large_budget": _large_budget(model, x, y, info, batch_size, tolerance),
        "zero_or_nonfinite_gradients": _gradients(model, x[:batch_size], y[:batch_size]),
        "black_box_beats_white_box": _black_box(attacks, kinds, tolerance),
        **_autoattack_checks(model, x[:batch_size]),
    }


def _by_budget(record: Mapping[str, Any]) -> dict[float, float]:
    return {
        round(float(e), 9): float(a) for e, a in zip(record["eps"], record["robust_accuracy"], strict=True)
    }


def _iterative(
    attacks: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str], tol: float
) -> dict[str, Any]:
    single = [n for n, k in kinds.items() if k == "single"]
    iterative = [n for n, k in kinds.items() if k == "iterative"]
    if not single or not iterative:
        return {"flag": None, "detail": "needs a single-step and an iterative attack (fgsm and pgd)"}
    worse = []
    for it in iterative:
        for one in single:
            a, b = _by_budget(attacks[it]), _by_budget(attacks[one])
            worse += [
                f"{it} {a[e]:.3f} > {one} {b[e]:.3f} at eps {e:.4g}"
                for e in a
                if e in b and a[e] > b[e] + tol
            ]
    if worse:
        return {"flag": True, "detail": "; ".join(worse[:3])}
    return {"flag": False, "detail": f"{', '.join(iterative)} at least as strong as {', '.join(single)}"}


def _monotone(attacks: Mapping[str, Mapping[str, Any]], tol: float) -> dict[str, Any]:
    rising = []
    for name, record in attacks.items():
        pairs = sorted(_by_budget(record).items())
        rising += [f"{name}: {a:.3f} at {e:.4g} < {b:.3f} at {f:.4g}"
                   for (e, a), (f, b) in itertools.pairwise(pairs) if b > a + tol]  # fmt: skip
    if not any(len(r["eps"]) > 1 for r in attacks.values()):
        return {"flag": None, "detail": "no attack was run at more than one budget"}
    if rising:
        return {"flag": True, "detail": "; ".join(rising[:3])}
    return {"flag": False, "detail": "robust accuracy falls (or stays) as the budget grows"}


def _large_budget(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, info: DataInfo, batch_size: int, tol: float
) -> dict[str, Any]:
    from toolkit.attacks.pgd import PGD
    from toolkit.baselines.attacks import attack_in_batches
    from toolkit.protocols import bind
    from toolkit.tasks import kit

    domain = info.input_domain
    if domain.low is None or domain.high is None:  # unbounded: the range the inputs span
        eps, covers = float((x.amax() - x.amin()).item()), "the range the inputs span"
    else:
        low, high = (torch.as_tensor(v, dtype=torch.float32) for v in (domain.low, domain.high))
        eps, covers = float((high - low).max()), "the whole input domain"
    attack = bind(PGD(eps=eps, steps=20, random_start=True, seed=0), info)
    x_adv, _ = attack_in_batches(attack, model, x, y, batch_size)
    accuracy = float(
        (kit.predict(model, x_adv, device=x.device, batch_size=batch_size) == y.cpu()).float().mean()
    )
    chance = 1.0 / info.num_classes
    detail = f"PGD-20 at eps {eps:.4g} ({covers}): accuracy {accuracy:.3f}, chance {chance:.3f}"
    return {"flag": accuracy > chance + tol, "detail": detail, "accuracy": accuracy, "eps": eps}


def _gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    from toolkit.attacks.base import input_gradient
    from toolkit.modelstate import frozen

    with frozen(model, eval_mode=True):
        grad = input_gradient(model, x, y, None)
    finite = bool(torch.isfinite(grad).all())
    zero = float((grad.flatten(1).abs().amax(dim=1) == 0).float().mean())
    detail = f"{zero:.0%} of {len(x)} samples have a zero input gradient" + (
        "" if finite else "; some are not finite"
    )
    return {"flag": zero > 0.5 or not finite, "detail": detail, "zero_share": zero, "finite": finite}


def _black_box(
    attacks: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str], tol: float
) -> dict[str, Any]:
    black = [n for n, k in kinds.items() if k == "black_box"]
    white = [n for n, k in kinds.items() if k in ("single", "iterative")]
    if not black or not white:
        return {"flag": None, "detail": "needs a black-box attack (one that declares black_box = True)"}
    beaten = []
    for b in black:
        for e, acc in _by_budget(attacks[b]).items():
            best = [v for w in white if (v := _by_budget(attacks[w]).get(e)) is not None]
            if best and acc < min(best) - tol:
                beaten.append(f"{b} {acc:.3f} < {min(best):.3f} at eps {e:.4g}")
    if beaten:
        return {"flag": True, "detail": "; ".join(beaten[:3])}
    return {"flag": False, "detail": "the white-box attacks are at least as strong"}


def _autoattack_checks(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, Any]]:
    """AutoAttack's own checks: randomized outputs and outputs that are probabilities."""
    from toolkit.modelstate import eval_mode

    with eval_mode(model), torch.no_grad():
        first, second = model(x).float(), model(x).float()
    change = float((first - second).abs().max()) if first.numel() else 0.0
    randomized = change > 1e-5 * max(1.0, float(first.abs().max()))
    sums = first.sum(dim=1)
    probabilities = bool(
        first.numel()
        and first.min() >= 0
        and first.max() <= 1
        and torch.allclose(sums, torch.ones_like(sums), atol=1e-4)
    )
    return {
        "randomized_outputs": {
            "flag": randomized,
            "detail": f"two passes over {len(x)} samples differ by up to {change:.3g}"
            + (": a randomized model; evaluate with autoattack version = 'rand'" if randomized else ""),
        },
        "outputs_are_probabilities": {
            "flag": probabilities,
            "detail": "the outputs are probabilities (in [0, 1], summing to 1): return logits"
            if probabilities
            else "the outputs are logits",
        },
    }


def attack_kind(name: str, params: Mapping[str, Any], factory: Any) -> str:
    """``single``, ``iterative``, ``black_box`` or ``other`` for an attack of the recipe."""
    from toolkit.declarations import declared

    if bool(declared(factory, "black_box")):
        return "black_box"
    if name == "fgsm":
        return "single"
    steps = params.get("steps")
    if name == "pgd" or (isinstance(steps, int) and steps > 1):
        return "iterative" if not isinstance(steps, int) or steps > 1 else "single"
    return "other"


def flags(checks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The checks that raised a flag."""
    return [name for name in CHECKS if checks.get(name, {}).get("flag") is True]


def rows(checks: Mapping[str, Mapping[str, Any]]) -> Sequence[list[Any]]:
    """Table rows: the check, its verdict and its detail."""
    word = {True: "FLAG", False: "ok", None: "not applicable"}
    return [[name.replace("_", " "), word[checks[name]["flag"]], checks[name]["detail"]] for name in CHECKS]
