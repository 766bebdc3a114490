"""What the training loop measures on a split: loss, predictions, accuracy, and the epoch to keep.

- :func:`predict`: the mean cross-entropy and the predicted classes of a model on a split
  (the logits from one :class:`~toolkit.outputs.Outputs` pass, eval mode, no gradients).
- :func:`evaluate`: the mean cross-entropy and the accuracy.
- :func:`scores`: what one epoch records of the test split (loss, accuracy, and the
  Matthews correlation when ``train.monitor = "mcc"``).
- :class:`Best`: the weights of the epoch with the best monitored score (``train.select = "best"``).

Example:
    >>> import torch
    >>> from toolkit.data.base import Split
    >>> model = torch.nn.Linear(2, 2)
    >>> loss, accuracy = evaluate(model, Split(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)))
    >>> accuracy in (0.0, 1.0)
    True
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.data.base import Split
from toolkit.errors import RunError
from toolkit.recipe import TrainConfig


def evaluate(
    model: nn.Module, split: Split, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (eval mode, no gradients)."""
    loss, predictions = predict(model, split, device=device, batch_size=batch_size)
    return loss, float((predictions == split.y).float().mean()) if len(split) else 0.0


def predict(
    model: nn.Module, split: Split, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> tuple[float, torch.Tensor]:
    """Mean cross-entropy and the predicted classes (on the CPU) of ``model`` on ``split``:
    the logits of one :class:`~toolkit.outputs.Outputs` pass, the loss summed batch by batch."""
    from toolkit.outputs import Outputs

    if len(split) == 0:
        return 0.0, torch.zeros(0, dtype=torch.long)
    logits = Outputs(model, split.x, device=device, batch_size=batch_size).logits
    total_loss = sum(
        float(F.cross_entropy(logits[i : i + batch_size], split.y[i : i + batch_size], reduction="sum"))
        for i in range(0, len(split), batch_size)
    )
    return total_loss / len(split), logits.argmax(1)


def scores(
    model: nn.Module, test: Split, config: TrainConfig, device: torch.device, batch_size: int
) -> dict[str, float]:
    """The test split's loss and accuracy (and Matthews correlation, when monitored)."""
    loss, predictions = predict(model, test, device=device, batch_size=batch_size)
    out = {"test_loss": loss, "test_accuracy": float((predictions == test.y).float().mean())}
    if config.monitor == "mcc":
        from toolkit.metrics.classification import mcc

        out["test_mcc"] = mcc(test.y.numpy(), predictions.numpy())
    return out


class Best:
    """The weights of the epoch with the best monitored test score (``select = "best"``).

    Args:
        config: the ``[train]`` table (``monitor`` and ``select``).
        test: the split each epoch is scored on.

    Raises:
        RunError: ``select = "best"`` without a test split.
    """

    def __init__(self, config: TrainConfig, test: Split | None) -> None:
        self.key = f"test_{config.monitor}"
        self.active = config.select == "best"
        if self.active and (test is None or len(test) == 0):
            raise RunError('train.select = "best" needs a test split to score each epoch on')
        self.score, self.epoch = -math.inf, 0
        self.state: dict[str, torch.Tensor] | None = None

    def offer(self, model: nn.Module, record: dict[str, Any]) -> None:
        """Keep a copy of ``model``'s weights if the epoch's ``record`` beats the best so far."""
        if self.active and record[self.key] > self.score:
            self.score, self.epoch = record[self.key], record["epoch"]
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def restore(self, model: nn.Module, history: list[dict[str, Any]]) -> None:
        """Load the best epoch's weights and mark its record ``selected``."""
        if self.active and self.state is not None:
            model.load_state_dict(self.state)
            history[self.epoch - 1]["selected"] = 1.0
