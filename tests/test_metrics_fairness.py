"""Fairness metrics: a hand-computed table and agreement with fairlearn."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs

from toolkit.metrics import fairness as fm

# 10 people: group 1 privileged (first 6), group 0 unprivileged (last 4)
Y_TRUE = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 1])
Y_PRED = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0])
GROUP = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])


def test_hand_computed_table() -> None:
    # privileged: selected 3/6; positives (idx 0,1,4) -> TPR 2/3; negatives (2,3,5) -> FPR 1/3
    # unprivileged: selected 1/4; positives (6,9) -> TPR 1/2; negatives (7,8) -> FPR 0
    per = fm.group_metrics(Y_TRUE, Y_PRED, GROUP)
    assert per[1] == pytest.approx(
        {"count": 6, "selection_rate": 0.5, "tpr": 2 / 3, "fpr": 1 / 3, "accuracy": 4 / 6}
    )
    assert per[0] == pytest.approx(
        {"count": 4, "selection_rate": 0.25, "tpr": 0.5, "fpr": 0.0, "accuracy": 3 / 4}
    )
    assert fm.p_rule(Y_PRED, GROUP) == pytest.approx(50.0)
    assert fm.disparate_impact(Y_PRED, GROUP) == pytest.approx(0.5)
    assert fm.statistical_parity_difference(Y_PRED, GROUP) == pytest.approx(-0.25)
    assert fm.equal_opportunity_difference(Y_TRUE, Y_PRED, GROUP) == pytest.approx(0.5 - 2 / 3)
    assert fm.average_odds_difference(Y_TRUE, Y_PRED, GROUP) == pytest.approx(
        ((0 - 1 / 3) + (0.5 - 2 / 3)) / 2
    )
    assert fm.equalized_odds_difference(Y_TRUE, Y_PRED, GROUP) == pytest.approx(1 / 3)
    assert fm.selection_rate(Y_PRED) == pytest.approx(0.4)


def test_p_rule_is_symmetric_and_bounded() -> None:
    assert fm.p_rule(Y_PRED, 1 - GROUP) == pytest.approx(fm.p_rule(Y_PRED, GROUP))
    assert fm.p_rule(np.zeros(4), np.array([0, 0, 1, 1])) == 100.0
    assert np.isnan(fm.disparate_impact(np.array([1, 1, 0, 0]), np.array([0, 0, 1, 1])))
    with pytest.raises(ValueError, match="binary attribute"):
        fm.p_rule(Y_PRED, GROUP + 1)


def test_intersection_labels_and_multi_group() -> None:
    sex = np.array([0, 1, 0, 1])
    race = np.array([1, 1, 0, 0])
    labels = fm.intersection(
        {"race": race, "sex": sex}, {"race": ("Black", "White"), "sex": ("Female", "Male")}
    )
    assert labels.tolist() == [
        "race=White,sex=Female", "race=White,sex=Male", "race=Black,sex=Female", "race=Black,sex=Male",
    ]  # fmt: skip
    pred = np.array([1, 1, 0, 1])
    assert fm.demographic_parity_ratio(pred, labels) == 0.0
    assert fm.demographic_parity_difference(pred, labels) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_fairlearn(seed: int) -> None:
    needs("fairlearn")
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(seed)
    n = 500
    y, pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    g = (rng.random(n) < 0.3).astype(int)
    multi = rng.integers(0, 4, n)
    frame = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
                 "accuracy": accuracy_score, "count": count},
        y_true=y, y_pred=pred, sensitive_features=g,
    )  # fmt: skip
    ours = fm.group_metrics(y, pred, g)
    for code, row in frame.by_group.iterrows():
        for key in ("selection_rate", "tpr", "fpr", "accuracy", "count"):
            assert abs(float(row[key]) - ours[int(code)][key]) <= 1e-12
    assert abs(fm.p_rule(pred, g) / 100 - demographic_parity_ratio(y, pred, sensitive_features=g)) <= 1e-12
    assert (
        abs(
            fm.equalized_odds_difference(y, pred, g)
            - equalized_odds_difference(y, pred, sensitive_features=g)
        )
        <= 1e-12
    )
    assert (
        abs(
            abs(fm.statistical_parity_difference(pred, g))
            - demographic_parity_difference(y, pred, sensitive_features=g)
        )
        <= 1e-12
    )
    assert (
        abs(
            fm.demographic_parity_ratio(pred, multi)
            - demographic_parity_ratio(y, pred, sensitive_features=multi)
        )
        <= 1e-12
    )
    assert (
        abs(
            fm.equalized_odds_difference(y, pred, multi)
            - equalized_odds_difference(y, pred, sensitive_features=multi)
        )
        <= 1e-12
    )


def test_adversary_auc_detects_information() -> None:
    rng = np.random.default_rng(0)
    z = rng.integers(0, 2, 4000)
    informative = np.clip(0.3 + 0.3 * z + rng.normal(0, 0.1, z.size), 0, 1)
    noise = rng.random(z.size)
    half = z.size // 2
    high = fm.adversary_auc(informative[:half], z[:half], informative[half:], z[half:])
    chance = fm.adversary_auc(noise[:half], z[:half], noise[half:], z[half:])
    assert high > 0.95 and 0.45 < chance < 0.55


def test_empty_rates_are_handled_symmetrically() -> None:
    g = np.array([0, 0, 1, 1])
    assert fm.p_rule(np.array([1, 0, 0, 0]), g) == 0.0
    assert fm.p_rule(np.array([0, 0, 1, 0]), g) == 0.0  # the mirror case gives the same
    assert fm.p_rule(np.array([0, 0, 0, 0]), g) == 100.0


def test_metricframe_check_catches_disagreement() -> None:
    needs("fairlearn")
    from toolkit.baselines.fairlearn import metricframe_check

    y = np.array([1, 0, 1, 0, 1, 0])
    pred = np.array([1, 0, 0, 0, 1, 1])
    g = np.array([0, 0, 0, 1, 1, 1])
    report = fm.binary_report(y, pred, g)
    ours = {"a": {**report, "groups": fm.group_metrics(y, pred, g)}}
    assert metricframe_check(y, pred, {"a": g}, ours)["agrees"] is True
    wrong = {
        "a": {**report, "groups": {k: {**v, "tpr": v["tpr"] + 0.1} for k, v in ours["a"]["groups"].items()}}
    }
    assert metricframe_check(y, pred, {"a": g}, wrong)["agrees"] is False
    undefined = {
        "a": {**report, "groups": {k: {**v, "tpr": float("nan")} for k, v in ours["a"]["groups"].items()}}
    }
    assert metricframe_check(y, pred, {"a": g}, undefined)["agrees"] is False


@pytest.mark.slow  # many degenerate cases through fairlearn: about 15 s; nox runs it
def test_degenerate_groups_agree_with_fairlearn() -> None:
    """Random small samples, many with a group lacking positives or negatives: every group
    metric agrees with fairlearn's (undefined TPR and FPR are 0, as fairlearn computes them)."""
    import warnings

    fl = needs("fairlearn.metrics")
    rng = np.random.default_rng(0)
    degenerate = 0
    for _ in range(300):
        n = int(rng.integers(4, 12))
        y, pred, g = (rng.integers(0, 2, n) for _ in range(3))
        if len(np.unique(g)) < 2:
            continue
        cells = {(int(a), int(b)) for a, b in zip(g, y, strict=True)}
        degenerate += len(cells) < 4
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = fl.MetricFrame(
                metrics={
                    "tpr": fl.true_positive_rate,
                    "fpr": fl.false_positive_rate,
                    "sr": fl.selection_rate,
                },
                y_true=y,
                y_pred=pred,
                sensitive_features=g,
            )
            theirs_eod = fl.equalized_odds_difference(y, pred, sensitive_features=g)
            theirs_dpd = fl.demographic_parity_difference(y, pred, sensitive_features=g)
            theirs_dpr = fl.demographic_parity_ratio(y, pred, sensitive_features=g)
        by = frame.by_group
        ours = fm.group_metrics(y, pred, g)
        for code in (0, 1):
            assert ours[code]["tpr"] == pytest.approx(by.loc[code, "tpr"], abs=1e-12)
            assert ours[code]["fpr"] == pytest.approx(by.loc[code, "fpr"], abs=1e-12)
            assert ours[code]["selection_rate"] == pytest.approx(by.loc[code, "sr"], abs=1e-12)
        assert fm.equalized_odds_difference(y, pred, g) == pytest.approx(theirs_eod, abs=1e-12)
        assert fm.equal_opportunity_difference(y, pred, g) == pytest.approx(
            by.loc[0, "tpr"] - by.loc[1, "tpr"], abs=1e-12
        )
        assert fm.average_odds_difference(y, pred, g) == pytest.approx(
            ((by.loc[0, "fpr"] - by.loc[1, "fpr"]) + (by.loc[0, "tpr"] - by.loc[1, "tpr"])) / 2, abs=1e-12
        )
        assert fm.demographic_parity_difference(pred, g) == pytest.approx(theirs_dpd, abs=1e-12)
        if not np.isnan(theirs_dpr):
            assert fm.demographic_parity_ratio(pred, g) == pytest.approx(theirs_dpr, abs=1e-12)
    assert degenerate > 50  # the samples do exercise empty cells


def test_a_group_without_samples_makes_every_between_group_metric_nan_with_a_warning() -> None:
    """With one group there is no gap: fairlearn's 0.0 difference (and 1.0 ratio) over the
    groups present would read as perfect parity; ours are NaN and say why."""
    y, pred = np.array([0, 1, 1, 0, 1]), np.array([1, 1, 0, 0, 1])
    only_unprivileged = np.zeros(5, dtype=int)
    with pytest.warns(fm.EmptyGroupWarning, match="the privileged \\(1\\) group has no samples"):
        report = fm.binary_report(y, pred, only_unprivileged)
    assert set(report) >= {"p_rule", "equalized_odds_difference", "statistical_parity_difference"}
    assert all(np.isnan(v) for v in report.values()), report
    with pytest.warns(fm.EmptyGroupWarning, match="unprivileged \\(0\\) group has no samples"):
        assert np.isnan(fm.binary_report(y, pred, np.ones(5, dtype=int))["equalized_odds_difference"])
    with pytest.warns(fm.EmptyGroupWarning, match="only 1 group has samples"):
        multi = fm.multi_group_report(y, pred, np.array(["race=a,sex=b"] * 5))
    assert all(np.isnan(v) for v in multi.values()), multi
    assert fm.no_samples()["count"] == 0 and np.isnan(fm.no_samples()["tpr"])
    # two groups with samples: numbers, and no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", fm.EmptyGroupWarning)
        assert (
            fm.binary_report(y, pred, np.array([0, 0, 1, 1, 1]))["equalized_odds_difference"] == 1.0
        )  # FPR 1 against 0
