"""The audit's checks of a text classifier where images and tables have others: robustness to
the text augmentations, and the gender-bias probes for fairness.

**Robustness** (text): each augmenter (default: character noise, keyboard typos, word
deletion and word swaps, :mod:`toolkit.text.augment`; none that may flip the label or needs
a download) rewrites every test sentence, seeded, and the model is scored on the rewritten
sentences with the originals' labels (:func:`toolkit.tasks.text_robustness.augmented_scores`).
The verdict reads the share of the model's skill above chance that the worst augmentation
(of those that keep the label: antonyms may flip it) leaves,
``(BA_aug - 1/K) / (BA_clean - 1/K)`` on balanced accuracy (a majority-class model has
none to lose): ``fail`` below ``robust_fail`` (0.1), ``warn`` below ``robust_warn`` (0.5),
as for attacks on images.

**Fairness** (text): the gender-bias probes of :mod:`toolkit.tasks.text_bias` (templates x
occupations x gendered words, in male/female pairs). ``fail`` when the p%-rule of the
favourable rate, ``100 * min(SR_f / SR_m, SR_m / SR_f)`` (:func:`toolkit.metrics.fairness.p_rule`:
100 when neither gender gets it), is below ``p_rule_fail`` (80, the
four-fifths rule); ``warn`` when the counterfactual flip rate (pairs judged differently
when only the gender changes) is above ``flip_warn`` (0.05); ``pass`` otherwise.
``skipped`` without an occupations list (``evaluate.occupations``, or the shared data's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.audit.verdicts import CheckResult
from toolkit.results import Table

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext

__all__ = ["AUGMENTERS", "text_fairness", "text_robustness"]

#: The augmentations of the text robustness check, by default: offline, label-preserving.
AUGMENTERS: tuple[dict[str, Any], ...] = (
    {"name": "char_noise", "p": 0.05},
    {"name": "keyboard", "p": 0.05},
    {"name": "word_delete", "p": 0.1},
    {"name": "word_swap", "n": 1},
)


def text_robustness(
    ctx: TaskContext, *, augmenters: list[dict[str, Any]] | None = None, robust_warn: float = 0.5,
    robust_fail: float = 0.1,
) -> CheckResult:  # fmt: skip
    """The robustness check of a text model: balanced accuracy under each augmentation."""
    from toolkit.tasks.text_robustness import augmented_scores, build_augmenters

    data = ctx.data()
    built = build_augmenters(list(augmenters or AUGMENTERS), key="evaluate.text_augmenters")
    scores, variants = augmented_scores(ctx.model(), data, built, seed=ctx.recipe.seed, device=ctx.device,
                                        batch_size=ctx.eval_batch_size)  # fmt: skip
    chance = 1.0 / data.info.num_classes
    clean = scores["clean"]["balanced_accuracy"]
    skill = {k: _kept(v["balanced_accuracy"], clean, chance) for k, v in scores.items() if k != "clean"}
    preserving = [k for k in skill if not scores[k]["flips_label"]] or list(skill)  # antonyms flip labels
    worst = min(preserving, key=lambda k: skill[k])
    kept = skill[worst]
    level = "fail" if kept < robust_fail else "warn" if kept < robust_warn else "pass"
    reason = (f"the worst augmentation, {worst}, leaves a balanced accuracy of "
              f"{scores[worst]['balanced_accuracy']:.3f} of a clean {clean:.3f} ({kept:.0%} of the skill "
              f"above chance kept; warn below {robust_warn:.0%}, fail below {robust_fail:.0%})")  # fmt: skip
    metrics: dict[str, Any] = {"clean_balanced_accuracy": clean, "worst": worst, "kept": kept}
    metrics["augmentations"] = {k: {**v, "kept": skill.get(k, 1.0)} for k, v in scores.items()}
    rows = [[k, v["accuracy"], v["balanced_accuracy"], v["mcc"], v["changed"], skill.get(k, 1.0)]
            for k, v in scores.items()]  # fmt: skip
    table = Table("Robustness to text augmentations (test split)",
                  ["augmentation", "accuracy", "balanced accuracy", "MCC", "sentences changed",
                   "skill above chance kept"], rows)  # fmt: skip
    examples = Table("Rewritten sentences (the first three)", ["augmentation", "sentence"],
                     [[k, s] for k, v in variants.items() for s in v[:3]])  # fmt: skip
    return CheckResult(level, reason, metrics, [table, examples])  # type: ignore[arg-type]


def _kept(score: float, clean: float, chance: float) -> float:
    """The share of the clean skill above chance that ``score`` keeps (1 when none to lose)."""
    if clean <= chance:
        return 1.0
    return float(max(0.0, (score - chance) / (clean - chance)))


def text_fairness(
    ctx: TaskContext, *, occupations: str | None = None, favourable: str | None = None,
    p_rule_fail: float = 80.0, flip_warn: float = 0.05, batch_size: int = 256,
) -> CheckResult:  # fmt: skip
    """The fairness check of a text model: the gender-bias probes."""
    from toolkit.errors import DataError, UsageError
    from toolkit.explainers.text import text_tokenizer
    from toolkit.metrics import fairness
    from toolkit.tasks.text_bias import occupation_shares, probe
    from toolkit.text.templates import probe_sentences

    data, model = ctx.data(), ctx.model()
    names = data.info.class_names
    fav_name = favourable or ("acceptable" if "acceptable" in names else names[-1])
    if fav_name not in names:
        raise UsageError(f"evaluate.favourable: no class {fav_name!r} in {names}")
    try:
        shares = occupation_shares(occupations)
    except DataError as exc:
        return CheckResult("skipped", f"no occupations list for the gender-bias probes: {exc}")
    probes = probe_sentences(shares)
    tokenizer = text_tokenizer(data.info.tokenizer, model, "the gender-bias probes")
    found = probe(model.to(ctx.device), tokenizer, probes, names.index(fav_name), shares, batch_size)
    male = np.array([p.gender == "male" for p in probes], dtype=np.int64)
    p_rule = fairness.p_rule((found.pop("p_favourable") >= 0.5).astype(np.int64), male)
    flips = found["counterfactual_flip_rate"]
    verdict = "fail" if p_rule < p_rule_fail else "warn" if flips > flip_warn else "pass"
    reason = (f"gender-bias probes ({len(probes)} sentences, favourable: {fav_name}): p%-rule {p_rule:.1f} "
              f"(fail below {p_rule_fail:g}), counterfactual flip rate {flips:.3f} (warn above "
              f"{flip_warn:g})")  # fmt: skip
    metrics = {"favourable": fav_name, "p_rule": p_rule, "n_probes": len(probes), **found}
    keys = ("counterfactual_flip_rate", "disparate_impact", "statistical_parity_difference",
            "equal_opportunity_difference", "average_odds_difference", "gap_share_spearman")  # fmt: skip
    rows = [[k.replace("_", " "), found[k]] for k in keys]
    rows += [[f"favourable rate, {g}", found["favourable_rate"][g]] for g in ("female", "male")]
    table = Table("Gender bias on the probe sentences (women: unprivileged)", ["metric", "value"], rows)
    from toolkit import plots

    figure = plots.occupation_gaps({"model": found["gap"]}, shares)
    return CheckResult(verdict, reason, metrics, [table], {"gap_by_occupation": figure})  # type: ignore[arg-type]
