"""Figures of a run, drawn with matplotlib's non-interactive Agg backend.

Each function returns a :class:`matplotlib.figure.Figure`; the runner saves it as
``figures/<name>.png`` and embeds it in ``report.html``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(*, ncols: int = 1, width: float = 5.0, height: float = 3.6) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def training_curves(history: Sequence[Mapping[str, float]]) -> Figure:
    """Loss and accuracy per epoch, on the training and the test split."""
    fig, (ax_loss, ax_acc) = _figure(ncols=2)
    epochs = [h["epoch"] for h in history]
    for key, label in (("train", "train"), ("test", "test")):
        if f"{key}_loss" in history[0]:
            ax_loss.plot(epochs, [h[f"{key}_loss"] for h in history], marker=".", label=label)
            ax_acc.plot(epochs, [h[f"{key}_accuracy"] for h in history], marker=".", label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def score_histogram(
    scores_in: np.ndarray,
    scores_out: np.ndarray,
    *,
    name: str,
    threshold: float | None = None,
    labels: tuple[str, str] = ("in-distribution", "held out"),
) -> Figure:
    """Overlaid histograms of a detector's scores on in-distribution and held-out samples."""
    fig, (ax,) = _figure()
    lo = float(min(scores_in.min(), scores_out.min()))
    hi = float(max(scores_in.max(), scores_out.max()))
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    ax.hist(scores_in, bins=bins, alpha=0.6, density=True, label=f"{labels[0]} (n={scores_in.size})")
    ax.hist(scores_out, bins=bins, alpha=0.6, density=True, label=f"{labels[1]} (n={scores_out.size})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    ax.set(xlabel=f"{name} score (higher = in-distribution)", ylabel="density", title=name)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, tpr: float | None = None) -> Figure:
    """ROC curves (in-distribution positive) of several detectors on one plot."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, (ax,) = _figure(width=4.6, height=4.2)
    for name, (s_in, s_out) in curves.items():
        y = np.r_[np.ones(s_in.size), np.zeros(s_out.size)]
        s = np.r_[s_in, s_out]
        fpr, tpr_curve, _ = roc_curve(y, s)
        ax.plot(fpr, tpr_curve, label=f"{name} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
    if tpr is not None:
        ax.axhline(tpr, color="black", linestyle="--", linewidth=0.8, label=f"TPR {tpr:g}")
    ax.set(
        xlabel="held-out samples accepted (FPR)",
        ylabel="in-distribution accepted (TPR)",
        title="ROC",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def group_distributions(
    p: np.ndarray,
    groups: Mapping[str, Any],
    names: Mapping[str, tuple[str, str]],
    *,
    title: str = "",
) -> Figure:
    """The distribution of the predicted probability per group, one panel per attribute."""
    attrs = list(names)
    fig, axes = _figure(ncols=len(attrs), width=4.6, height=3.4)
    bins = np.linspace(0, 1, 41)
    for ax, attr in zip(axes, attrs, strict=True):
        g = np.asarray(groups[attr]).reshape(-1)
        for code in (1, 0):
            values = p[g == code]
            if values.size:
                ax.hist(
                    values,
                    bins=bins,
                    density=True,
                    alpha=0.55,
                    label=f"{names[attr][code]} (n={values.size})",
                )
        ax.set(xlabel="P(favourable outcome)", ylabel="density", title=attr, xlim=(0, 1))
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def debiasing_history(history: Sequence[Mapping[str, float]], attrs: Sequence[str]) -> Figure:
    """Accuracy and the p%-rule of each attribute per iteration of a debiasing defense."""
    fig, (ax_acc, ax_rule) = _figure(ncols=2)
    steps = [h["iteration"] for h in history]
    ax_acc.plot(steps, [h["accuracy"] for h in history])
    ax_acc.set(xlabel="iteration", ylabel="test accuracy", title="accuracy")
    for a in attrs:
        ax_rule.plot(steps, [h[f"p_rule_{a}"] for h in history], label=a)
    ax_rule.axhline(80, color="black", linestyle="--", linewidth=0.8, label="80% rule")
    ax_rule.set(xlabel="iteration", ylabel="p%-rule", title="p%-rule (100 = parity)", ylim=(0, 105))
    ax_rule.legend(fontsize="small")
    for ax in (ax_acc, ax_rule):
        ax.grid(alpha=0.3)
    return fig


def png_bytes(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (deterministic: no timestamp in the file)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
