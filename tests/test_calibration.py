"""Calibration metrics against the reference implementations: torchmetrics' calibration
errors, scikit-learn's Brier score and log loss; temperature scaling against a direct
minimization of the NLL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import needs

from toolkit.metrics.calibration import (
    brier,
    calibration_metrics,
    classwise_ece,
    ece,
    fit_temperature,
    nll,
    reliability,
    softmax,
)


def draw(seed: int, n: int = 600, k: int = 5, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * scale
    logits[np.arange(n), y] += 2.0  # informative but overconfident logits
    return logits, y


def off_edges(p: np.ndarray, n_bins: int = 15) -> bool:
    """No probability lies on a bin edge above 0 (where the bins' closed sides differ; both
    put 0 in the first bin)."""
    scaled = p * n_bins
    return bool(np.all((np.abs(scaled - np.round(scaled)) > 1e-6) | (scaled < 0.5)))


@pytest.mark.parametrize("seed", range(4))
def test_top_label_and_classwise_ece_match_torchmetrics(seed: int) -> None:
    needs("torchmetrics", what="the cross-check with torchmetrics' calibration error")
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    logits, y = draw(seed)
    p = softmax(logits)
    assert off_edges(p)
    theirs = float(multiclass_calibration_error(torch.tensor(p), torch.tensor(y), num_classes=5, n_bins=15))
    assert ece(p, y) == pytest.approx(theirs, abs=1e-6)
    per_class = [
        float(
            binary_calibration_error(
                torch.tensor(p[:, c]), torch.tensor((y == c).astype(np.int64)), n_bins=15
            )
        )
        for c in range(5)
    ]
    assert classwise_ece(p, y) == pytest.approx(np.mean(per_class), abs=1e-6)


def test_brier_and_nll_match_scikit_learn() -> None:
    from sklearn.metrics import brier_score_loss, log_loss

    logits, y = draw(1)
    p = softmax(logits)
    assert nll(p, y) == pytest.approx(log_loss(y, p, labels=range(5)), rel=1e-9)
    assert brier(p, y) == pytest.approx(np.mean(np.sum((p - np.eye(5)[y]) ** 2, axis=1)))
    try:  # scikit-learn >= 1.7 scores several classes; older ones only two
        theirs = brier_score_loss(y, p, labels=range(5))
    except ValueError:
        return
    assert brier(p, y) == pytest.approx(theirs, rel=1e-9)


def test_the_bins_by_hand_and_their_closed_side() -> None:
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    y = np.array([0, 1, 1, 1])
    # bins (0, 0.5] and (0.5, 1]: 0.5 falls in the first (Guo et al.'s right-closed bins)
    found = reliability(p, y, n_bins=2)
    assert found["count"] == [1.0, 3.0]
    assert found["accuracy"][0] == 0.0 and found["confidence"][0] == 0.5  # argmax of a tie is class 0
    assert ece(p, y, n_bins=2) == pytest.approx(0.25 * 0.5 + 0.75 * abs(2 / 3 - (0.9 + 0.6 + 0.8) / 3))
    assert ece(np.eye(3), np.arange(3)) == 0.0  # certain and right: perfectly calibrated


def test_temperature_scaling_minimizes_the_nll_and_keeps_the_predictions() -> None:
    logits, y = draw(2, scale=4.0)  # overconfident
    t = fit_temperature(logits, y)
    assert t > 1.5  # it softens an overconfident model
    grid = np.exp(np.linspace(np.log(0.1), np.log(20), 4001))
    best = grid[np.argmin([nll(softmax(logits, g), y) for g in grid])]
    assert t == pytest.approx(best, rel=5e-3)
    before, after = calibration_metrics(logits, y), calibration_metrics(logits, y, temperature=t)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert after["accuracy"] == before["accuracy"]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="lie in"):
        ece(np.array([[1.5, -0.5]]), np.array([0]))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1"):
        brier(np.array([[0.5, 0.5]]), np.array([2]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        nll(np.zeros((0, 3)), np.zeros(0))


def test_the_reliability_diagram_draws_each_curve() -> None:
    from toolkit import plots

    logits, y = draw(3)
    t = fit_temperature(logits, y)
    fig = plots.reliability_diagram(
        {"as trained": reliability(softmax(logits), y), f"T = {t:.2f}": reliability(softmax(logits, t), y)}
    )
    top = fig.axes[0]
    assert [line.get_label() for line in top.get_lines()] == [
        "perfect calibration",
        "as trained",
        f"T = {t:.2f}",
    ]
    assert len(fig.axes[1].patches) == 2 * 15
