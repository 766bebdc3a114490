"""The audit's fairness check: does the model treat the groups of each sensitive attribute,
and their intersections, alike?

For data with sensitive attributes (``DataInfo.sensitive``) and a binary label (class 1 the
favourable outcome), on the test split's predictions (:mod:`toolkit.metrics.fairness`):
per attribute, the group metrics, the p%-rule, disparate impact, statistical parity,
equal-opportunity, average-odds and equalized-odds differences; over the intersection of
the attributes (race x sex), the demographic parity ratio and the equalized odds
difference.

Verdict (thresholds in ``[evaluate]``): ``fail`` when an attribute's p%-rule is below
``p_rule_fail`` (80: the four-fifths rule of the US EEOC's Uniform Guidelines, 1978) or an
equalized odds difference (of an attribute or of the intersection) is above ``eo_fail``
(0.2); ``warn`` when one is above ``eo_warn`` (0.1: AIF360's fair range for difference
metrics is within 0.1 of 0); ``pass`` otherwise; ``skipped`` without sensitive attributes
or without a binary label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toolkit.audit.verdicts import CheckResult
from toolkit.results import Table

__all__ = ["fairness"]


def fairness(
    y: np.ndarray, pred: np.ndarray, groups: dict[str, np.ndarray], sensitive: dict[str, tuple[str, str]],
    *, classes: int, p_rule_fail: float = 80.0, eo_warn: float = 0.1, eo_fail: float = 0.2,
) -> CheckResult:  # fmt: skip
    """The fairness check of predictions ``pred`` for labels ``y`` and group columns ``groups``."""
    from toolkit.metrics.fairness import binary_report, intersection, multi_group_report

    if not sensitive:
        return CheckResult("skipped", "no groups in this data set (no sensitive attributes)")
    if classes != 2:
        return CheckResult("skipped", f"the group metrics need a binary label (a favourable class 1); "
                                      f"this one has {classes} classes")  # fmt: skip
    per = {attr: binary_report(y, pred, groups[attr]) for attr in sensitive}
    metrics: dict[str, Any] = {"attributes": per}
    if len(sensitive) > 1:
        metrics["intersection"] = multi_group_report(y, pred, intersection(groups, sensitive))
    findings = _findings(per, metrics.get("intersection"), p_rule_fail, eo_warn, eo_fail)
    if findings["fail"]:
        verdict, reason = "fail", "; ".join(findings["fail"])
    elif findings["warn"]:
        verdict, reason = "warn", "; ".join(findings["warn"])
    else:
        verdict, reason = "pass", (f"every p%-rule at least {p_rule_fail:g} and every equalized odds "
                                   f"difference at most {eo_warn:g}")  # fmt: skip
    keys = ("p_rule", "disparate_impact", "statistical_parity_difference", "equal_opportunity_difference",
            "equalized_odds_difference")  # fmt: skip
    rows = [[f"{attr} ({' vs '.join(sensitive[attr])})", *(per[attr][k] for k in keys)] for attr in sensitive]
    if "intersection" in metrics:
        inter = metrics["intersection"]
        rows.append(["intersection", 100 * inter["demographic_parity_ratio"], "", "", "",
                     inter["equalized_odds_difference"]])  # fmt: skip
    table = Table(
        title="Fairness on the test split (class 1 the favourable outcome)",
        columns=["attribute", "p%-rule", "disparate impact", "statistical parity difference",
                 "equal opportunity difference", "equalized odds difference"],
        rows=rows,
    )  # fmt: skip
    return CheckResult(verdict, reason, metrics, [table])  # type: ignore[arg-type]


def _findings(
    per: dict[str, dict[str, float]], inter: dict[str, float] | None, p_fail: float, eo_warn: float,
    eo_fail: float,
) -> dict[str, list[str]]:  # fmt: skip
    """What breaks a threshold, by level."""
    out: dict[str, list[str]] = {"fail": [], "warn": []}
    gaps = {attr: m["equalized_odds_difference"] for attr, m in per.items()}
    if inter is not None:
        gaps["the intersection"] = inter["equalized_odds_difference"]
    for attr, m in per.items():
        if np.isfinite(m["p_rule"]) and m["p_rule"] < p_fail:
            out["fail"].append(f"{attr}: p%-rule {m['p_rule']:.1f} below {p_fail:g}")
    for where, gap in gaps.items():
        if not np.isfinite(gap):
            continue
        level = "fail" if gap > eo_fail else "warn" if gap > eo_warn else None
        if level:
            limit = eo_fail if level == "fail" else eo_warn
            out[level].append(f"{where}: equalized odds difference {gap:.3f} above {limit:g}")
    return out
