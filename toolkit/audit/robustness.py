"""The audit's robustness check: AutoAttack at the modality's customary budget, a PGD curve
over budgets, and the sanity checks that say whether to believe them.

On a seeded sample of the test split (``samples``, 200): AutoAttack, standard version
(APGD-CE, APGD-T, FAB-T, Square; Croce & Hein 2020, through torchattacks) at ``eps``
(L-inf 8/255 for images, RobustBench's CIFAR-10 budget); PGD-20 at a quarter, half, one and
two times ``eps``, FGSM at ``eps`` and the black-box Square attack (Andriushchenko et al.
2020, ``square_queries`` queries, 1,000) at ``eps``; then the sanity checks of Carlini et
al. (2019), among them a black-box attack that beats the white-box ones, and AutoAttack's
own (:mod:`toolkit.tasks.sanity`).

Verdict on AutoAttack's robust accuracy relative to the clean accuracy of the same sample:
``fail`` below ``robust_fail`` (0.1: the model keeps almost nothing), ``warn`` below
``robust_warn`` (0.5; adversarially trained CIFAR-10 ResNet-18s keep about 0.6 of their
accuracy at 8/255 in RobustBench), ``pass`` otherwise; every raised sanity flag lowers the
verdict one level (``pass`` to ``warn``, ``warn`` to ``fail``): the evaluation itself is then
in doubt.

Tables (standardized features inside the data set's declared per-feature bounds): the
same, with PGD-20 at ``eps`` taking AutoAttack's place (torchattacks' AutoAttack clips to
``[0, 1]``), at a default budget of 0.1 standard deviation per feature (tables have no
customary budget; set ``eps``). ``skipped`` for inputs that are not one tensor (text: the
audit scores text augmentations instead, :mod:`toolkit.audit.text`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from toolkit.audit.verdicts import RANKED, CheckResult
from toolkit.results import Table

if TYPE_CHECKING:
    from torch import nn

    from toolkit.data.base import DataInfo

__all__ = ["robustness"]


def robustness(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, info: DataInfo, *, eps: float = 8 / 255,
    samples: int = 200, seed: int = 0, batch_size: int = 256, robust_warn: float = 0.5,
    robust_fail: float = 0.1, square_queries: int = 1000,
) -> CheckResult:  # fmt: skip
    """The robustness check of ``model`` on model inputs ``x`` and labels ``y``."""
    from toolkit.tasks import sanity

    images = info.modality == "image" and info.input_domain.is_unit
    if not images and info.modality != "tabular":
        return CheckResult("skipped", f"the attacks move images in [0, 1] or table features; the data are "
                                      f"{info.modality}")  # fmt: skip
    index = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:samples].sort().values
    x, y = x[index], y[index]
    clean = _accuracy(model, x, y, batch_size)
    budgets = [eps / 4, eps / 2, eps, 2 * eps]
    curve = {"fgsm": _curve(model, x, y, info, "fgsm", [eps], batch_size),
             "pgd": _curve(model, x, y, info, "pgd", budgets, batch_size)}  # fmt: skip
    if images:
        curve["square"] = _curve(
            model,
            x,
            y,
            info,
            "torchattacks",
            [eps],
            batch_size,
            {"attack": "Square", "params": {"n_queries": square_queries, "seed": seed}},
        )
        curve["autoattack"] = _curve(model, x, y, info, "autoattack", [eps], batch_size)  # fmt: skip
    kinds = {"fgsm": "single", "pgd": "iterative", "square": "black_box", "autoattack": "other"}
    kinds = {name: kind for name, kind in kinds.items() if name in curve}
    checks = sanity.sanity_checks(model, x, y, attacks=curve, kinds=kinds, info=info, batch_size=batch_size)
    flags = sanity.flags(checks)
    headline = "AutoAttack" if images else "PGD-20"
    robust = curve["autoattack"]["robust_accuracy"][0] if images else curve["pgd"]["robust_accuracy"][2]
    kept = robust / clean if clean > 0 else 0.0
    level = "fail" if kept < robust_fail else "warn" if kept < robust_warn else "pass"
    lowered = RANKED[min(RANKED.index(level) + (1 if flags else 0), len(RANKED) - 1)]
    reason = (f"{headline} at eps {eps:.4g}: robust accuracy {robust:.3f} of a clean {clean:.3f} "
              f"({kept:.0%} kept; warn below {robust_warn:.0%}, fail below {robust_fail:.0%})")  # fmt: skip
    if flags:
        reason += f"; sanity flags {', '.join(flags)} lower the verdict: the evaluation itself is in doubt"
    metrics: dict[str, Any] = {"eps": eps, "n": len(y), "clean_accuracy": clean, "robust_accuracy": robust,
                               "headline": headline}  # fmt: skip
    metrics |= {"kept": kept, "attacks": curve, "sanity": checks, "sanity_flags": flags}
    rows = [
        [name, e, a] for name, r in curve.items() for e, a in zip(r["eps"], r["robust_accuracy"], strict=True)
    ]
    tables = [Table(f"Robustness on {len(y)} test samples (clean accuracy {clean:.4f})",
                    ["attack", "eps", "robust accuracy"], rows),
              Table("Sanity checks of the evaluation (Carlini et al. 2019; AutoAttack's own)",
                    ["check", "verdict", "detail"], list(sanity.rows(checks)))]  # fmt: skip
    return CheckResult(lowered, reason, metrics, tables)


def _curve(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, info: DataInfo, name: str, budgets: list[float],
    batch_size: int, params: dict[str, Any] | None = None,
) -> dict[str, list[float]]:  # fmt: skip
    """Robust accuracy of the attack ``name`` (with ``params``) at each budget."""
    from toolkit.baselines.attacks import attack_in_batches
    from toolkit.protocols import bind
    from toolkit.registry import registry

    entry = registry("attacks").get(name)
    cls = entry.load()
    given = params if params is not None else {"steps": 20} if name == "pgd" else {}
    out: dict[str, list[float]] = {"eps": [], "robust_accuracy": []}
    for eps in budgets:
        table = cls.with_budget(given, eps)
        attack = bind(cls(**entry.signature().validate(table, f"attack {name}")), info)
        x_adv, _ = attack_in_batches(attack, model, x, y, batch_size)
        out["eps"].append(float(eps))
        out["robust_accuracy"].append(_accuracy(model, x_adv, y, batch_size))
    return out


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    from toolkit.tasks import kit

    return float((kit.predict(model, x, device=x.device, batch_size=batch_size) == y.cpu()).float().mean())
