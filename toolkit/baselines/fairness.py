"""The fairness task's cross-check in fairlearn, on the same split: ``MetricFrame`` against
our metrics, and fairlearn's mitigations protecting the chosen attributes, each scored with
our metrics (:mod:`toolkit.baselines.fairlearn` holds the library calls)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from toolkit.data.base import DataBundle


def compare(
    data: DataBundle,
    requested: list[str],
    ours: dict[str, Any],
    *,
    protect: list[str],
    seed: int,
    epochs: int,
    proba: Callable[[np.ndarray], np.ndarray],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """fairlearn's baselines asked for in ``requested``.

    Args:
        data: tabular data with sensitive attributes (inputs are one tensor).
        requested: ``metricframe`` and mitigation names (``adversarial``,
            ``exponentiated_gradient``, ``threshold_optimizer``).
        ours: our evaluation of the final model (``pred`` and ``metrics``).
        protect: the attributes the mitigations protect (several are combined).
        seed: seeds the mitigations.
        epochs: epochs of the AdversarialFairnessClassifier.
        proba: our unmitigated model's ``P(y = 1 | x)`` (ThresholdOptimizer post-processes it).
        log: where each mitigation is announced.

    Returns:
        ``metricframe`` (the cross-check) and, per mitigation, its accuracy, seconds and
        binary fairness report per attribute.
    """
    from toolkit.baselines import fairlearn as fl

    attrs = list(data.info.sensitive)
    y_test = data.test.y.numpy()
    groups_test = {a: data.test.groups[a].numpy() for a in attrs}
    out: dict[str, Any] = {}
    if "metricframe" in requested:
        out["metricframe"] = fl.metricframe_check(
            y_test, ours["pred"], groups_test, ours["metrics"]["attributes"]
        )
    runs = _mitigations(data, protect=protect, seed=seed, epochs=epochs, proba=proba)
    for name in requested:
        if name not in runs:
            continue
        log(f"fairlearn baseline {name} (protecting {'+'.join(protect)})")
        with warnings.catch_warnings():  # the library's own deprecation chatter, not ours
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            pred, seconds = runs[name]()
        out[name] = scores(y_test, pred, groups_test, seconds)
    return out


def _mitigations(
    data: DataBundle, *, protect: list[str], seed: int, epochs: int, proba: Callable[[np.ndarray], np.ndarray]
) -> dict[str, Callable[[], tuple[np.ndarray, float]]]:
    """fairlearn's mitigations on the split, each not yet run: a function returning its test
    predictions and its seconds."""
    from toolkit.baselines import fairlearn as fl

    x_train, y_train = data.train.x.numpy(), data.train.y.numpy()  # type: ignore[union-attr]
    x_test = data.test.x.numpy()  # type: ignore[union-attr]

    def sensitive(split: Any) -> np.ndarray:
        cols = [split.groups[a].numpy() for a in protect]
        return cols[0] if len(cols) == 1 else np.stack(cols, axis=1)

    s_train, s_test = sensitive(data.train), sensitive(data.test)
    return {
        "adversarial": lambda: fl.adversarial(x_train, y_train, s_train, x_test, seed=seed, epochs=epochs),
        "exponentiated_gradient": lambda: fl.exponentiated_gradient(
            x_train, y_train, s_train, x_test, seed=seed
        ),
        "threshold_optimizer": lambda: fl.threshold_optimizer(
            proba, x_train, y_train, s_train, x_test, s_test, seed=seed
        ),
    }


def scores(
    y_test: np.ndarray, pred: np.ndarray, groups_test: dict[str, np.ndarray], seconds: float
) -> dict[str, Any]:
    """Accuracy, seconds and the binary fairness report per attribute of a mitigation's predictions."""
    from toolkit.metrics import fairness as fm
    from toolkit.metrics.classification import accuracy

    m: dict[str, Any] = {"accuracy": accuracy(y_test, pred), "seconds": seconds, "attributes": {}}
    for a, g in groups_test.items():
        m["attributes"][a] = fm.binary_report(y_test, pred, g)
    return m
