"""What a model scanner finds: one statistic per class, and the classes that stand out.

A scanner (the ``scanner`` family of detectors, :class:`toolkit.protocols.ModelScanner`)
reads a model and a few clean inputs, never the training set, and answers "is a class of
this model backdoored?". :func:`mad_outliers` is the decision rule of Neural Cleanse (Wang
et al., IEEE S&P 2019): with the per-class statistic ``v`` (the L1 norm of the smallest
trigger that sends clean inputs to the class),

    median absolute deviation  MAD = 1.4826 * median_k |v_k - median(v)|
    anomaly index              a_k = |v_k - median(v)| / MAD

and a class is flagged when ``a_k > threshold`` (2 by default: under a normal
distribution, more than two standard deviations out) on the small side (``v_k <=
median(v)``), since a backdoor makes its target class *easier* to reach. The constant
1.4826 makes the MAD estimate a normal distribution's standard deviation.

Example:
    >>> index, flagged = mad_outliers([10.0, 11.0, 9.0, 10.5, 9.5, 1.0])
    >>> flagged, round(index[-1], 2)
    ([5], 7.87)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["CONSISTENCY", "ModelScan", "mad_outliers"]

#: Scales the MAD to a normal distribution's standard deviation (1 / Phi^-1(3/4)).
CONSISTENCY = 1.4826


def mad_outliers(values: Sequence[float], *, threshold: float = 2.0) -> tuple[list[float], list[int]]:
    """The anomaly index of each value and the indices flagged on the small side.

    A zero MAD (half the values equal) gives index 0 to the values at the median and
    infinity to the others.
    """
    v = np.asarray(values, dtype=np.float64)
    median = float(np.median(v))
    deviation = np.abs(v - median)
    mad = CONSISTENCY * float(np.median(deviation))
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(deviation == 0, 0.0, deviation / mad if mad > 0 else np.inf)
    flagged = [int(k) for k in np.flatnonzero((index > threshold) & (v <= median))]
    return [float(a) for a in index], flagged


@dataclass
class ModelScan:
    """A scanner's result.

    Args:
        statistic: what ``values`` measure ("L1 norm of the reversed trigger's mask").
        values: the statistic per class, in class order.
        anomaly_index: per class (:func:`mad_outliers`).
        flagged: the classes flagged as backdoor targets (indices).
        details: more per-class lists the scanner reports (``success``: the share of clean
            inputs the reversed trigger sends to the class).
        triggers: what the report draws per class, images ``(K, C, H, W)`` in ``[0, 1]``
            (the reversed trigger, mask times pattern), or ``None``.
        masks: the reversed masks ``(K, 1, H, W)``, or ``None``.
    """

    statistic: str
    values: list[float]
    anomaly_index: list[float]
    flagged: list[int]
    details: dict[str, list[Any]] = field(default_factory=dict)
    triggers: torch.Tensor | None = None
    masks: torch.Tensor | None = None

    def metrics(self, class_names: Sequence[str]) -> dict[str, Any]:
        """The numbers for ``metrics.json``, keyed by class name."""
        names = list(class_names)
        return {
            "statistic": self.statistic,
            "values": dict(zip(names, self.values, strict=True)),
            "anomaly_index": dict(zip(names, self.anomaly_index, strict=True)),
            "flagged": [names[k] for k in self.flagged],
            "max_anomaly_index": max(self.anomaly_index) if self.anomaly_index else 0.0,
            **{key: dict(zip(names, value, strict=True)) for key, value in self.details.items()},
        }
