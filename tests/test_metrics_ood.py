"""OOD metrics: hand-computed cases and agreement with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from toolkit.metrics.classification import accuracy
from toolkit.metrics.ood import aupr_in, aupr_out, auroc, fpr_at_tpr, ood_metrics, threshold_at_tpr


def test_threshold_and_fpr_by_hand() -> None:
    s_in = np.arange(1, 21, dtype=float)  # 1..20
    # 95% of 20 = 19 samples accepted: the threshold is the 19th largest, 2
    assert threshold_at_tpr(s_in, 0.95) == 2.0
    assert fpr_at_tpr(s_in, np.array([0.5, 1.5, 2.0, 3.0]), 0.95) == 0.5
    assert threshold_at_tpr(s_in, 1.0) == 1.0
    assert threshold_at_tpr(s_in, 0.5) == 11.0
    assert threshold_at_tpr(np.array([0.9, 0.8, 0.7, 0.6]), 0.75) == pytest.approx(0.7)


def test_threshold_accepts_at_least_the_target_fraction() -> None:
    rng = np.random.default_rng(0)
    for n in (7, 100, 1001):
        s = rng.normal(size=n)
        for tpr in (0.5, 0.9, 0.95, 0.99):
            t = threshold_at_tpr(s, tpr)
            assert np.mean(s >= t) >= tpr
            assert np.mean(s > t) < tpr  # the largest such threshold


def test_areas_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    s_in, s_out = rng.normal(1, 1, 300), rng.normal(0, 1, 120)
    y = np.r_[np.ones(300), np.zeros(120)]
    s = np.r_[s_in, s_out]
    assert auroc(s_in, s_out) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert aupr_in(s_in, s_out) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert aupr_out(s_in, s_out) == pytest.approx(average_precision_score(1 - y, -s), abs=1e-12)
    m = ood_metrics(s_in, s_out, 0.9)
    assert set(m) == {"threshold", "fpr_at_tpr", "fpr_at_tpr_ood_positive", "auroc", "aupr_in", "aupr_out"}


def test_the_two_fpr95_conventions_by_hand() -> None:
    from toolkit.metrics.ood import fpr_at_tpr_ood_positive

    s_in = np.arange(10, 30, dtype=float)  # 10..29
    s_out = np.arange(0, 20, dtype=float)  # 0..19
    # ID positive: threshold 11 accepts 19 of 20 ID; OOD at or above 11: 11..19 -> 9 of 20
    assert fpr_at_tpr(s_in, s_out, 0.95) == 0.45
    # OOD positive: flag as OOD when score <= 18 (19 of 20 OOD); ID at or below 18: 10..18 -> 9 of 20
    assert fpr_at_tpr_ood_positive(s_in, s_out, 0.95) == 0.45
    skewed_out = np.r_[np.zeros(19), 25.0]
    assert fpr_at_tpr(s_in, skewed_out, 0.95) == 0.05
    assert fpr_at_tpr_ood_positive(s_in, skewed_out, 0.95) == 0.0


def test_perfect_and_reversed_separation() -> None:
    assert auroc([2, 3], [0, 1]) == 1.0 and fpr_at_tpr([2, 3], [0, 1]) == 0.0
    assert auroc([0, 1], [2, 3]) == 0.0 and fpr_at_tpr([0, 1], [2, 3]) == 1.0


def test_bad_scores() -> None:
    with pytest.raises(ValueError, match="NaN"):
        auroc([1.0, float("nan")], [0.0])
    with pytest.raises(ValueError, match="no in-distribution"):
        threshold_at_tpr([], 0.9)
    with pytest.raises(ValueError, match="tpr"):
        threshold_at_tpr([1.0], 0.0)


def test_accuracy() -> None:
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])
