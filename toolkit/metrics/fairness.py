"""Group-fairness metrics: pure functions on arrays of labels, predictions and groups.

Notation: ``y`` true labels and ``ŷ`` predicted labels in {0, 1} (1 = the favourable
outcome, e.g. income > 50K); a binary attribute ``a`` with 1 for the privileged group
(``p``) and 0 for the unprivileged one (``u``). Per group ``g``:

- selection rate ``SR_g = P(ŷ = 1 | a = g)``
- true-positive rate ``TPR_g = P(ŷ = 1 | y = 1, a = g)``
- false-positive rate ``FPR_g = P(ŷ = 1 | y = 0, a = g)``
- accuracy ``P(ŷ = y | a = g)`` and the count of samples.

Between the two groups of a binary attribute:

- p%-rule ``= 100 * min(SR_u / SR_p, SR_p / SR_u)`` (Zafar et al., AISTATS 2017; 80 is the
  "four-fifths rule" of US employment law)
- disparate impact ``= SR_u / SR_p``
- statistical parity difference ``= SR_u - SR_p``
- equal opportunity difference ``= TPR_u - TPR_p`` (Hardt et al., NeurIPS 2016)
- average odds difference ``= ((FPR_u - FPR_p) + (TPR_u - TPR_p)) / 2``
- equalized odds difference ``= max(|TPR_u - TPR_p|, |FPR_u - FPR_p|)`` (as fairlearn's
  ``equalized_odds_difference``).

For attributes with more than two groups (intersections such as race x sex) the
between-group numbers are ``demographic_parity_ratio = min_g SR_g / max_g SR_g`` (x 100 is
the generalized p%-rule), ``demographic_parity_difference = max_g SR_g - min_g SR_g`` and
the equalized odds difference ``max(range of TPR, range of FPR)``, as fairlearn defines
them.

Undefined rates follow fairlearn's convention, the same in every metric and table: a group
without positive samples has ``TPR = 0`` and one without negative samples ``FPR = 0`` (as
scikit-learn's and fairlearn's rates with ``zero_division = 0``); a group with no samples
at all has no rates (``nan``), and every between-group number is then ``nan`` too, with an
:class:`EmptyGroupWarning`: with one group there is no gap to measure, and fairlearn's
``0.0`` difference or ``1.0`` ratio over the groups present would read as perfect parity.

Example:
    >>> import numpy as np
    >>> y_pred, a = np.array([1, 1, 0, 0, 1, 0, 0, 0]), np.array([1, 1, 1, 1, 0, 0, 0, 0])
    >>> p_rule(y_pred, a), statistical_parity_difference(y_pred, a)
    (50.0, -0.25)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


class EmptyGroupWarning(RuntimeWarning):
    """A between-group metric was asked of data with a group that has no samples (it is NaN)."""


def _arrays(*arrays: ArrayLike) -> list[np.ndarray]:
    out = [np.asarray(a).reshape(-1) for a in arrays]
    if len({a.size for a in out}) != 1:
        raise ValueError(f"arrays differ in length: {[a.size for a in out]}")
    return out


def _rate(hits: np.ndarray, mask: np.ndarray, empty: float = float("nan")) -> float:
    n = int(mask.sum())
    return float(hits[mask].mean()) if n else empty


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def group_metrics(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> dict[Any, dict[str, float]]:
    """Per group: ``count``, ``selection_rate``, ``tpr``, ``fpr`` and ``accuracy``."""
    y, yhat, g = _arrays(y_true, y_pred, groups)
    y, yhat = y.astype(bool), yhat.astype(bool)
    out: dict[Any, dict[str, float]] = {}
    for value in np.unique(g):
        m = g == value
        key = value.item() if hasattr(value, "item") else value
        out[key] = {
            "count": int(m.sum()),
            "selection_rate": _rate(yhat, m),
            "tpr": _rate(yhat, m & y, 0.0),  # no positives: 0, as fairlearn
            "fpr": _rate(yhat, m & ~y, 0.0),  # no negatives: 0, as fairlearn
            "accuracy": _rate(yhat == y, m),
        }
    return out


def no_samples() -> dict[str, float]:
    """The per-group entry of a group with no samples: a count of 0 and no rates (NaN)."""
    nan = float("nan")
    return {"count": 0, "selection_rate": nan, "tpr": nan, "fpr": nan, "accuracy": nan}


def _two(y_true: ArrayLike, y_pred: ArrayLike, group: ArrayLike) -> tuple[dict[str, float], dict[str, float]]:
    g = np.asarray(group).reshape(-1)
    values = set(np.unique(g).tolist())
    if not values <= {0, 1}:
        raise ValueError(
            f"a binary attribute takes 0 (unprivileged) and 1 (privileged), got {sorted(values)}"
        )
    per = group_metrics(y_true, y_pred, g)
    return per.get(0, no_samples()), per.get(1, no_samples())


def _gap(values: list[float]) -> float:
    """``max - min`` of the groups' values; NaN when a value is NaN or under two groups."""
    if len(values) < 2 or any(np.isnan(v) for v in values):
        return float("nan")
    return float(max(values) - min(values))


def _warn_if_empty(groups: np.ndarray, names: Any = ("unprivileged (0)", "privileged (1)")) -> None:
    """An :class:`EmptyGroupWarning` when fewer than two groups have samples; ``names`` are
    the binary attribute's group names, or ``None`` for groups of any number."""
    present = np.unique(groups).tolist()
    if len(present) >= 2:
        return
    if names is not None:
        missing = ", ".join(n for code, n in enumerate(names) if code not in present)
        what = f"the {missing} group has no samples"
    else:
        what = f"only {len(present)} group has samples" if present else "there are no samples"
    warnings.warn(f"{what}: the between-group metrics are NaN, not parity", EmptyGroupWarning, stacklevel=3)


def selection_rate(y_pred: ArrayLike) -> float:
    """``P(ŷ = 1)``."""
    (yhat,) = _arrays(y_pred)
    return float(yhat.astype(bool).mean()) if yhat.size else float("nan")


def p_rule(y_pred: ArrayLike, group: ArrayLike) -> float:
    """``100 * min(SR_u / SR_p, SR_p / SR_u)``; 100 is parity."""
    u, p = _two(y_pred, y_pred, group)
    su, sp = u["selection_rate"], p["selection_rate"]
    if np.isnan(su) or np.isnan(sp):
        return float("nan")
    if su == 0 and sp == 0:
        return 100.0
    if su == 0 or sp == 0:
        return 0.0
    return 100.0 * min(su / sp, sp / su)


def disparate_impact(y_pred: ArrayLike, group: ArrayLike) -> float:
    """``SR_u / SR_p``; 1 is parity."""
    u, p = _two(y_pred, y_pred, group)
    return _ratio(u["selection_rate"], p["selection_rate"])


def statistical_parity_difference(y_pred: ArrayLike, group: ArrayLike) -> float:
    """``SR_u - SR_p``; 0 is parity."""
    u, p = _two(y_pred, y_pred, group)
    return u["selection_rate"] - p["selection_rate"]


def equal_opportunity_difference(y_true: ArrayLike, y_pred: ArrayLike, group: ArrayLike) -> float:
    """``TPR_u - TPR_p``."""
    u, p = _two(y_true, y_pred, group)
    return u["tpr"] - p["tpr"]


def average_odds_difference(y_true: ArrayLike, y_pred: ArrayLike, group: ArrayLike) -> float:
    """``((FPR_u - FPR_p) + (TPR_u - TPR_p)) / 2``."""
    u, p = _two(y_true, y_pred, group)
    return ((u["fpr"] - p["fpr"]) + (u["tpr"] - p["tpr"])) / 2


def equalized_odds_difference(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> float:
    """``max(range_g TPR_g, range_g FPR_g)``: for two groups, the larger absolute gap; NaN
    when fewer than two groups have samples."""
    per = group_metrics(y_true, y_pred, groups)
    gaps = [_gap([m["tpr"] for m in per.values()]), _gap([m["fpr"] for m in per.values()])]
    return float("nan") if any(np.isnan(g) for g in gaps) else max(gaps)


def demographic_parity_ratio(y_pred: ArrayLike, groups: ArrayLike) -> float:
    """``min_g SR_g / max_g SR_g`` over any number of groups (1 where no group is selected);
    NaN when fewer than two groups have samples."""
    rates = [m["selection_rate"] for m in group_metrics(y_pred, y_pred, groups).values()]
    if len(rates) < 2:
        return float("nan")
    return _ratio(min(rates), max(rates)) if max(rates) > 0 else 1.0


def demographic_parity_difference(y_pred: ArrayLike, groups: ArrayLike) -> float:
    """``max_g SR_g - min_g SR_g`` over any number of groups; NaN when fewer than two groups
    have samples."""
    rates = [m["selection_rate"] for m in group_metrics(y_pred, y_pred, groups).values()]
    return _gap(rates)


def adversary_auc(
    p_train: ArrayLike, group_train: ArrayLike, p_test: ArrayLike, group_test: ArrayLike, *, seed: int = 0
) -> float:
    """How well a sensitive attribute can be recovered from the model's predicted probability.

    A gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``, able to
    learn any function of the one input) is fitted to predict the attribute from the
    predicted probability on the training split; the result is its ROC AUC on the test
    split. 0.5 means the prediction carries no information about the attribute (Zhang et
    al., AIES 2018, measure debiasing the same way).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    p_tr, g_tr = _arrays(p_train, group_train)
    p_te, g_te = _arrays(p_test, group_test)
    if len(np.unique(g_tr)) < 2 or len(np.unique(g_te)) < 2:
        return float("nan")
    clf = HistGradientBoostingClassifier(max_iter=50, max_depth=3, random_state=seed)
    clf.fit(p_tr.reshape(-1, 1), g_tr)
    return float(roc_auc_score(g_te, clf.predict_proba(p_te.reshape(-1, 1))[:, 1]))


def intersection(
    groups: Mapping[str, ArrayLike], names: Mapping[str, tuple[str, str]] | None = None
) -> np.ndarray:
    """One label per sample combining several attributes, e.g. ``"race=Black,sex=Female"``."""
    keys = list(groups)
    cols = _arrays(*(groups[k] for k in keys))

    def label(key: str, value: Any) -> str:
        if names and key in names:
            return f"{key}={names[key][int(value)]}"
        return f"{key}={value}"

    return np.array(
        [",".join(label(k, v) for k, v in zip(keys, row, strict=True)) for row in zip(*cols, strict=True)]
    )


def binary_report(y_true: ArrayLike, y_pred: ArrayLike, group: ArrayLike) -> dict[str, float]:
    """Every between-group metric of one binary attribute, in one dict (all NaN, with an
    :class:`EmptyGroupWarning`, when a group has no samples)."""
    _warn_if_empty(np.asarray(group).reshape(-1))
    return {
        "p_rule": p_rule(y_pred, group),
        "disparate_impact": disparate_impact(y_pred, group),
        "statistical_parity_difference": statistical_parity_difference(y_pred, group),
        "equal_opportunity_difference": equal_opportunity_difference(y_true, y_pred, group),
        "average_odds_difference": average_odds_difference(y_true, y_pred, group),
        "equalized_odds_difference": equalized_odds_difference(y_true, y_pred, group),
    }


def multi_group_report(y_true: ArrayLike, y_pred: ArrayLike, groups: ArrayLike) -> dict[str, float]:
    """The between-group metrics defined for any number of groups (NaN, with an
    :class:`EmptyGroupWarning`, under two groups with samples)."""
    _warn_if_empty(np.asarray(groups).reshape(-1), names=None)
    return {
        "demographic_parity_ratio": demographic_parity_ratio(y_pred, groups),
        "demographic_parity_difference": demographic_parity_difference(y_pred, groups),
        "equalized_odds_difference": equalized_odds_difference(y_true, y_pred, groups),
    }
