"""The audit's calibration check: are the model's confidences its accuracies?

The test split is cut in two, seeded and stratified by class: temperature scaling (Guo et
al. 2017) is fitted on the first part (the validation half; never the part the numbers are
reported on), and the second part is scored as the model gives them and after scaling: top-
label ECE (15 equal-width bins), class-wise ECE, Brier score, NLL
(:mod:`toolkit.metrics.calibration`), with a reliability diagram of both.

Verdict on the model as given (thresholds in ``[evaluate]``): ``fail`` when its ECE is above
``ece_fail`` (0.15), ``warn`` above ``ece_warn`` (0.05), ``pass`` otherwise, counting an ECE
only where it is beyond what a perfectly calibrated model shows on as many samples (the
95th percentile of consistency resampling, ``ece_noise``: the binned ECE of a few hundred
samples is biased upwards). The defaults follow Guo et al. (2017), who measured ECEs of
0.03 to 0.16 for modern networks as trained and about 0.01 to 0.03 after temperature
scaling. The reason says whether the fitted temperature brings the ECE back under
``ece_warn`` (or into the noise band): the fix, when there is one.
"""

from __future__ import annotations

import numpy as np

from toolkit.audit.verdicts import CheckResult
from toolkit.results import Table

__all__ = ["calibration", "halves"]


def halves(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the validation and the evaluation half of ``y``, each class split in two
    (seeded; an odd class gives its extra sample to the evaluation half)."""
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        first.append(idx[: len(idx) // 2])
        second.append(idx[len(idx) // 2 :])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def calibration(
    logits: np.ndarray, y: np.ndarray, *, seed: int, n_bins: int = 15, ece_warn: float = 0.05,
    ece_fail: float = 0.15,
) -> CheckResult:  # fmt: skip
    """The calibration check of ``logits`` (N, K) for labels ``y``."""
    from toolkit import plots
    from toolkit.metrics.calibration import (
        calibration_metrics,
        ece_noise,
        fit_temperature,
        reliability,
        softmax,
    )

    val, ev = halves(y, seed)
    if len(val) < 2 or len(ev) < 2:
        return CheckResult("skipped", f"{len(y)} test samples are too few to fit and score calibration")
    t = fit_temperature(logits[val], y[val])
    before = calibration_metrics(logits[ev], y[ev], n_bins=n_bins)
    after = calibration_metrics(logits[ev], y[ev], n_bins=n_bins, temperature=t)
    metrics = {**before, "temperature": t, "scaled": after, "n_validation": len(val), "n_evaluation": len(ev),
               "n_bins": n_bins}  # fmt: skip
    noise = ece_noise(softmax(logits[ev]), n_bins=n_bins, seed=seed)
    noise_after = ece_noise(softmax(logits[ev], t), n_bins=n_bins, seed=seed)
    metrics |= {"ece_noise": noise, "scaled_ece_noise": noise_after}
    fixed = after["ece"] <= max(ece_warn, noise_after)
    fix = (f"temperature scaling (T = {t:.3g}, fitted on {len(val)} validation samples) "
           f"{'brings it to' if fixed else 'only brings it to'} {after['ece']:.3f}")  # fmt: skip
    ece, real = before["ece"], before["ece"] > noise  # beyond what sampling alone gives
    if real and ece > ece_fail:
        verdict, reason = "fail", f"ECE {ece:.3f} is above {ece_fail:g}; {fix}"
    elif real and ece > ece_warn:
        verdict, reason = "warn", f"ECE {ece:.3f} is above {ece_warn:g}; {fix}"
    elif ece > ece_warn:
        verdict, reason = "pass", (f"ECE {ece:.3f} is within what a calibrated model shows on {len(ev)} "
                                   f"samples (95% below {noise:.3f})")  # fmt: skip
    else:
        verdict, reason = "pass", f"ECE {ece:.3f} (at most {ece_warn:g})"
    curves = {"as given": reliability(softmax(logits[ev]), y[ev], n_bins=n_bins),
              f"temperature {t:.3g}": reliability(softmax(logits[ev], t), y[ev], n_bins=n_bins)}  # fmt: skip
    keys = ("ece", "classwise_ece", "brier", "nll", "accuracy")
    table = Table(
        title=f"Calibration on {len(ev)} test samples (temperature fitted on the other {len(val)})",
        columns=["model", "ECE", "class-wise ECE", "Brier", "NLL", "accuracy"],
        rows=[["as given", *(before[k] for k in keys)], [f"temperature {t:.3g}", *(after[k] for k in keys)]],
    )
    figures = {"reliability": plots.reliability_diagram(curves, title="Reliability (evaluation half)")}
    return CheckResult(verdict, reason, metrics, [table], figures)  # type: ignore[arg-type]
