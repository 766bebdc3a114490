"""Reference runs in fairlearn on the same split: a cross-check of our metrics and three
of fairlearn's mitigations to compare against.

- ``metricframe``: fairlearn's ``MetricFrame`` recomputes the per-group selection rate,
  TPR, FPR, accuracy and count, and fairlearn's ``demographic_parity_ratio`` and
  ``equalized_odds_difference`` the between-group numbers, on our predictions; they must
  agree with :mod:`toolkit.metrics.fairness` to 1e-9.
- ``adversarial``: ``AdversarialFairnessClassifier`` (Zhang et al. 2018) with a predictor
  of the same shape as ours (three hidden layers of 32 units).
- ``exponentiated_gradient``: ``ExponentiatedGradient`` with ``DemographicParity`` over a
  logistic regression (Agarwal et al., ICML 2018).
- ``threshold_optimizer``: ``ThresholdOptimizer`` with demographic parity, post-processing
  our own (unmitigated) classifier's probabilities (Hardt et al., NeurIPS 2016).

Each mitigation returns its test predictions and its time in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from toolkit.errors import UsageError

NAMES = ("metricframe", "adversarial", "exponentiated_gradient", "threshold_optimizer")


def _fairlearn() -> Any:
    try:
        import fairlearn
    except ImportError as exc:
        raise UsageError(
            "[baselines] fairlearn needs fairlearn: pip install 'trustworthy-ml-toolkit[fairness]'"
        ) from exc
    return fairlearn


def metricframe_check(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: Mapping[str, np.ndarray],
    ours: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Recompute our group metrics with fairlearn and report the largest absolute difference.

    ``ours[attr]`` holds ``groups`` (per-group dicts keyed by group code) and the
    between-group ``demographic_parity_ratio`` (from the p%-rule) and
    ``equalized_odds_difference``; these two are compared only where both groups have
    samples (with one group, fairlearn gives 1.0 and 0.0 and ours are NaN on purpose).
    """
    _fairlearn()
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    metric_fns: dict[str, Callable[..., float]] = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "accuracy": accuracy_score,
        "count": count,
    }
    worst = 0.0
    compared = 0

    def gap(a: float, b: float) -> float:
        """|a - b|; two NaNs agree, a NaN against a number is an infinite disagreement."""
        a, b = float(a), float(b)
        if np.isnan(a) and np.isnan(b):
            return 0.0
        if np.isnan(a) or np.isnan(b):
            return float("inf")
        return abs(a - b)

    for attr, g in groups.items():
        frame = MetricFrame(metrics=metric_fns, y_true=y_true, y_pred=y_pred, sensitive_features=g)
        for code, row in frame.by_group.iterrows():
            mine = ours[attr]["groups"][int(code)]
            for key in metric_fns:
                worst = max(worst, gap(row[key], mine[key]))
                compared += 1
        if len(np.unique(g)) < 2:  # fairlearn's 1.0 and 0.0 over one group are our NaN: nothing to compare
            continue
        ratio = demographic_parity_ratio(y_true, y_pred, sensitive_features=g)
        eod = equalized_odds_difference(y_true, y_pred, sensitive_features=g)
        worst = max(worst, gap(ratio, ours[attr]["p_rule"] / 100.0))
        worst = max(worst, gap(eod, ours[attr]["equalized_odds_difference"]))
        compared += 2
    return {"max_abs_difference": worst, "values_compared": compared, "agrees": worst <= 1e-9}


def adversarial(
    x_train: np.ndarray,
    y_train: np.ndarray,
    s_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seed: int,
    epochs: int = 10,
    alpha: float = 1.0,
) -> tuple[np.ndarray, float]:
    """fairlearn's ``AdversarialFairnessClassifier`` (demographic parity); test predictions, seconds."""
    _fairlearn()
    import torch
    from fairlearn.adversarial import AdversarialFairnessClassifier

    torch.manual_seed(seed)
    started = time.perf_counter()
    clf = AdversarialFairnessClassifier(
        backend="torch",
        predictor_model=[32, "relu", 32, "relu", 32, "relu"],
        adversary_model=[32, "relu", 32, "relu"],
        alpha=alpha,
        epochs=epochs,
        batch_size=32,
        learning_rate=0.001,
        shuffle=True,
        random_state=seed,
    )
    clf.fit(x_train, y_train, sensitive_features=s_train)
    pred = np.asarray(clf.predict(x_test)).astype(int).reshape(-1)
    return pred, time.perf_counter() - started


def exponentiated_gradient(
    x_train: np.ndarray,
    y_train: np.ndarray,
    s_train: np.ndarray,
    x_test: np.ndarray,
    *,
    seed: int,
) -> tuple[np.ndarray, float]:
    """``ExponentiatedGradient(LogisticRegression, DemographicParity)``; test predictions, seconds."""
    _fairlearn()
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    mitigator = ExponentiatedGradient(LogisticRegression(max_iter=1000), constraints=DemographicParity())
    mitigator.fit(x_train, y_train, sensitive_features=s_train)
    pred = np.asarray(mitigator.predict(x_test, random_state=seed)).astype(int)
    return pred, time.perf_counter() - started


def _prefit(proba: Callable[[np.ndarray], np.ndarray]) -> Any:
    """Our trained classifier as a fitted scikit-learn estimator (``predict_proba``)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Prefit(ClassifierMixin, BaseEstimator):
        def __init__(self, proba: Callable[[np.ndarray], np.ndarray]) -> None:
            self.proba = proba

        def fit(self, x: np.ndarray, y: np.ndarray) -> Any:
            return self

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            p = self.proba(x)
            return np.stack([1 - p, p], axis=1)

        def predict(self, x: np.ndarray) -> np.ndarray:
            return (self.proba(x) > 0.5).astype(int)

    model = Prefit(proba)
    model.classes_ = np.array([0, 1])
    model.fitted_ = True
    return model


def threshold_optimizer(
    proba: Callable[[np.ndarray], np.ndarray],
    x_train: np.ndarray,
    y_train: np.ndarray,
    s_train: np.ndarray,
    x_test: np.ndarray,
    s_test: np.ndarray,
    *,
    seed: int,
) -> tuple[np.ndarray, float]:
    """``ThresholdOptimizer`` (demographic parity) on our classifier; test predictions, seconds."""
    _fairlearn()
    from fairlearn.postprocessing import ThresholdOptimizer

    started = time.perf_counter()
    post = ThresholdOptimizer(
        estimator=_prefit(proba),
        constraints="demographic_parity",
        prefit=True,
        predict_method="predict_proba",
    )
    post.fit(x_train, y_train, sensitive_features=s_train)
    pred = np.asarray(post.predict(x_test, sensitive_features=s_test, random_state=seed)).astype(int)
    return pred, time.perf_counter() - started
