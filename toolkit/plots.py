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
    """Loss and accuracy per epoch, on the training and the test split (with the test
    split's Matthews correlation when recorded, and the kept epoch of ``select = "best"``)."""
    fig, (ax_loss, ax_acc) = _figure(ncols=2)
    epochs = [h["epoch"] for h in history]
    for key, label in (("train", "train"), ("test", "test")):
        if f"{key}_loss" in history[0]:
            ax_loss.plot(epochs, [h[f"{key}_loss"] for h in history], marker=".", label=label)
            ax_acc.plot(epochs, [h[f"{key}_accuracy"] for h in history], marker=".", label=label)
    low = 0.0
    if "test_mcc" in history[0]:
        mcc = [h["test_mcc"] for h in history]
        ax_acc.plot(epochs, mcc, marker=".", linestyle="--", label="test MCC")
        low = min(0.0, *mcc)
    chosen = [h["epoch"] for h in history if h.get("selected")]
    for ax in (ax_loss, ax_acc) if chosen else ():
        ax.axvline(chosen[0], color="gray", linestyle=":", linewidth=1, label="kept epoch")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (MCC)" if low < 0 or "test_mcc" in history[0] else "accuracy",
               title="accuracy", ylim=(low - 0.02 if low < 0 else 0, 1.02))  # fmt: skip
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


def roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    tpr: float | None = None,
    title: str = "ROC",
    xlabel: str = "held-out samples accepted (FPR)",
) -> Figure:
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
        xlabel=xlabel,
        ylabel="in-distribution accepted (TPR)",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def metric_grid(values: Mapping[str, Mapping[str, float]], *, title: str, low: float = 0.5) -> Figure:
    """A heat map of one metric, rows by key of ``values`` (data sets), columns by inner key
    (detectors), each cell printed; the colour scale runs from ``low`` (chance for AUROC) to 1."""
    rows = list(values)
    cols = list(next(iter(values.values()))) if rows else []
    grid = np.array([[values[r][c] for c in cols] for r in rows], dtype=float)
    fig, (ax,) = _figure(width=1.2 + 0.9 * max(len(cols), 2), height=1.0 + 0.45 * max(len(rows), 2))
    image = ax.imshow(grid, cmap="viridis", vmin=low, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize="x-small",
                    color="white" if grid[i, j] < (low + 1) / 2 else "black")  # fmt: skip
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return fig


def reliability_diagram(
    curves: Mapping[str, Mapping[str, Sequence[float]]], *, title: str = "Reliability"
) -> Figure:
    """Reliability diagrams (``toolkit.metrics.calibration.reliability``): per bin, the
    accuracy against the mean confidence, one line per curve (before and after temperature
    scaling, say), the diagonal for perfect calibration and the bins' share of samples below."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 5.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1, label="perfect calibration")
    for i, (name, r) in enumerate(curves.items()):
        conf, acc, count = (np.asarray(r[k], dtype=float) for k in ("confidence", "accuracy", "count"))
        keep = count > 0
        top.plot(conf[keep], acc[keep], marker="o", markersize=3, label=name)
        edges = np.asarray(r["edges"], dtype=float)
        width = (edges[1] - edges[0]) / max(len(curves), 1)
        bottom.bar(edges[:-1] + i * width, count / max(count.sum(), 1), width=width, align="edge", label=name)
    top.set(ylabel="accuracy", title=title, xlim=(0, 1), ylim=(0, 1.01))
    top.legend(fontsize="small", loc="upper left")
    top.grid(alpha=0.3)
    bottom.set(xlabel="confidence", ylabel="share")
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


def robust_accuracy(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Robust accuracy against the attack budget, one line per attack (and model)."""
    fig, (ax,) = _figure(width=5.2, height=3.8)
    for name, (eps, acc) in curves.items():
        ax.plot(eps, acc, marker="o", label=name)
    ax.set(xlabel="budget eps", ylabel="robust accuracy", title="accuracy under attack", ylim=(0, 1.02))
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def confusion(
    matrix: np.ndarray, names: Sequence[str], *, title: str = "", xlabel: str = "predicted after the attack"
) -> Figure:
    """A confusion matrix (true class in rows, predicted in columns), rows normalized."""
    k = len(names)
    fig, (ax,) = _figure(width=0.55 * k + 2.5, height=0.5 * k + 2.0)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(k), names, fontsize="small")
    ax.set(xlabel=xlabel, ylabel="true class", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return fig


def _show(ax: Any, image: Any) -> None:
    img = np.asarray(image)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(
    clean: Any, adversarial: Any, labels: Any, pred_clean: Any, pred_adv: Any, names: Sequence[str]
) -> Figure:
    """Clean images (top row) and their adversarial versions (bottom), with labels and predictions."""
    from matplotlib.figure import Figure

    k = len(clean)
    fig = Figure(figsize=(1.6 * k, 3.8), layout="constrained")
    axes = fig.subplots(2, k, squeeze=False)
    for i in range(k):
        _show(axes[0][i], clean[i])
        axes[0][i].set_title(f"{names[int(labels[i])]}\n→ {names[int(pred_clean[i])]}", fontsize="small")
        _show(axes[1][i], adversarial[i])
        colour = "green" if int(pred_adv[i]) == int(labels[i]) else "red"
        axes[1][i].set_title(f"adv → {names[int(pred_adv[i])]}", fontsize="small", color=colour)
    return fig


def labelled_images(images: Any, titles: Sequence[str], *, marked: Sequence[bool] = (), ncols: int = 10,
                    title: str = "") -> Figure:  # fmt: skip
    """Images (``uint8`` or floats in ``[0, 1]``, ``(N, C, H, W)``) in rows of ``ncols``, each
    with its title; ``marked`` ones get a red title and frame (poisoned samples, say)."""
    from matplotlib.figure import Figure

    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    n = len(images)
    rows = max(1, -(-n // ncols))
    fig = Figure(figsize=(1.5 * min(n, ncols), 1.7 * rows + (0.4 if title else 0)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, min(n, ncols), squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        if i >= n:
            ax.axis("off")
            continue
        _show(ax, images[i])
        red = i < len(marked) and marked[i]
        ax.set_title(titles[i], fontsize="small", color="red" if red else "black")
        for spine in ax.spines.values():
            spine.set(color="red" if red else "#999", linewidth=2.5 if red else 0.5)
    if title:
        fig.suptitle(title)
    return fig


def attribution_grid(
    clean: Any, clean_maps: Any, adversarial: Any, adv_maps: Any, pred_clean: Any, pred_adv: Any,
    names: Sequence[str], *, title: str = "", prefixes: tuple[str, str] = ("", "adv "),
) -> Figure:  # fmt: skip
    """Images and their attribution maps: clean above, adversarial below (``prefixes`` start
    the two rows' titles: another pair, such as a trained and a randomized model, fits too)."""
    from matplotlib.figure import Figure

    k = len(clean)
    fig = Figure(figsize=(1.5 * k, 6.2), layout="constrained")
    axes = fig.subplots(4, k, squeeze=False)
    for i in range(k):
        for row, (img, maps, pred) in enumerate(
            ((clean, clean_maps, pred_clean), (adversarial, adv_maps, pred_adv))
        ):
            _show(axes[2 * row][i], img[i])
            axes[2 * row][i].set_title(prefixes[row] + f"→ {names[int(pred[i])]}", fontsize="small")
            heat = np.asarray(maps[i]).sum(axis=0) if np.asarray(maps[i]).ndim == 3 else np.asarray(maps[i])
            axes[2 * row + 1][i].imshow(np.abs(heat), cmap="inferno")
            axes[2 * row + 1][i].set_xticks([])
            axes[2 * row + 1][i].set_yticks([])
    if title:
        fig.suptitle(title)
    return fig


def feature_attributions(
    clean: np.ndarray, adversarial: np.ndarray, names: Sequence[str], *, title: str = "", top: int = 20,
    legend: tuple[str, str] = ("clean", "adversarial"),
) -> Figure:  # fmt: skip
    """Mean absolute attribution per feature of clean and adversarial inputs (tabular data; or
    another pair, named by ``legend``), the ``top`` features with the largest clean
    attribution, as horizontal bars."""
    clean_mean, adv_mean = np.abs(clean).mean(axis=0), np.abs(adversarial).mean(axis=0)
    order = np.argsort(-clean_mean)[:top][::-1]
    labels = [names[i] if i < len(names) else f"feature {i}" for i in order]
    fig, (ax,) = _figure(width=6.4, height=0.28 * len(order) + 1.4)
    pos = np.arange(len(order))
    ax.barh(pos + 0.2, clean_mean[order], height=0.4, label=legend[0])
    ax.barh(pos - 0.2, adv_mean[order], height=0.4, label=legend[1])
    ax.set_yticks(pos, labels, fontsize="small")
    ax.set(xlabel="mean |attribution|", title=title)
    ax.legend(fontsize="small")
    return fig


def word_attributions(sentence: Mapping[str, Any], *, title: str = "") -> Figure:
    """Each word's attribution by each method, as grouped vertical bars, each method scaled
    to its largest magnitude (methods differ in units: probabilities, logits, LIME weights)."""
    words = sentence["words"]
    methods = sentence["attributions"]
    fig, (ax,) = _figure(width=max(5.0, 0.45 * len(words) + 1.5), height=3.4)
    pos = np.arange(len(words))
    width = 0.8 / max(len(methods), 1)
    for k, (label, scores) in enumerate(methods.items()):
        values = np.asarray(scores, dtype=float)
        top = float(np.abs(values).max()) or 1.0
        ax.bar(pos - 0.4 + width * (k + 0.5), values / top, width=width, label=label)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(pos, words, rotation=45, ha="right", fontsize="small")
    short = title if len(title) <= 70 else title[:67] + "..."
    ax.set(ylabel="attribution / max |attribution|", title=f"{short} -> {sentence.get('target', '')}")
    ax.legend(fontsize="small")
    return fig


def occupation_gaps(gaps: Mapping[str, Mapping[str, float]], shares: Mapping[str, float]) -> Figure:
    """Per occupation (sorted by its share of women), the score gap
    ``P(fav | female) - P(fav | male)`` of each model, as bars."""
    names = sorted(shares, key=lambda n: shares[n])
    fig, (ax,) = _figure(width=max(6.0, 0.22 * len(names) + 2), height=3.8)
    pos = np.arange(len(names))
    width = 0.8 / max(len(gaps), 1)
    for k, (label, gap) in enumerate(gaps.items()):
        ax.bar(pos - 0.4 + width * (k + 0.5), [gap[n] for n in names], width=width, label=label)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(
        pos, [f"{n} ({shares[n]:.0f}%)" for n in names], rotation=75, ha="right", fontsize="x-small"
    )
    ax.set(ylabel="P(fav | female) - P(fav | male)", title="score gap per occupation (share of women)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    return fig


def bars(values: Mapping[str, float], *, ylabel: str, title: str = "") -> Figure:
    """One bar per named value."""
    fig, (ax,) = _figure(width=max(4.0, 0.6 * len(values) + 1.5))
    ax.bar(range(len(values)), list(values.values()))
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right", fontsize="small")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, axis="y")
    return fig


def compare_bars(runs: Mapping[str, Sequence[float]], metrics: Sequence[str]) -> Figure:
    """Grouped bars: a group per metric, a bar per run (``toolkit compare --figure``)."""
    fig, (ax,) = _figure(width=max(5.0, 0.6 * len(metrics) * max(1, len(runs)) / 2 + 2), height=4.0)
    width = 0.8 / max(1, len(runs))
    for i, (name, values) in enumerate(runs.items()):
        ax.bar(np.arange(len(metrics)) + i * width, values, width=width, label=name)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(runs) - 1) / 2, metrics, rotation=30, ha="right")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return fig


def png_bytes(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (deterministic: no timestamp in the file)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
