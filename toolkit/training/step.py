"""One optimization step of the training loop, and the hooks defenses and attacks put into it.

A step on a stored batch: augment (on the stored dtype), convert to the model's input, call
a defense's batch hook, forward, ``loss = CE(logits, y)`` (plus an attack's ``objective``
of the penultimate features), backward, clip the gradients' global L2 norm, update, and
step the per-step schedule; the forward pass and loss under the ``[train]`` table's mixed
precision (:mod:`toolkit.training.speed`). A non-finite loss stops training at once
(:class:`TrainingDiverged`), so a diverged model is never cached.

Example:
    >>> import torch
    >>> model = torch.nn.Linear(2, 2)
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> step = make_step(model, optimizer, generator=torch.Generator(), epochs=1)
    >>> loss, correct = step(1, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), torch.arange(4))
    >>> correct in range(5)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.data.inputs import to_model_input
from toolkit.errors import RunError
from toolkit.interrupt import check_stop
from toolkit.training.frozen import train_mode
from toolkit.training.speed import Precision, as_channels_last

#: A defense's hook into training: ``(model, x, y) -> (x, y)`` for each batch, after augmentation.
BatchHook = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
#: A term added to the loss: ``(features, index) -> scalar`` with the batch's penultimate
#: features and its samples' indices in the training split (an adaptive poisoning attack's).
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: One step: ``(epoch, x, y, index) -> (summed loss, correct count)`` of the batch.
Step = Callable[[int, Any, torch.Tensor, torch.Tensor], tuple[float, int]]


class TrainingDiverged(RunError):
    """The loss became non-finite: the run fails (exit 1) and nothing is cached."""


class WithFeatures(nn.Module):
    """``(features, head(features))`` of a classifier in one forward pass: what a training
    step with an ``objective`` calls (DDP sees every forward pass it must synchronize).

    Args:
        model: a classifier with ``forward_features`` and ``head``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The penultimate features of ``x`` and the logits the head makes of them."""
        features = self.model.forward_features(x)  # type: ignore[operator]
        return features, self.model.head(features)  # type: ignore[operator]


def make_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    generator: torch.Generator,
    epochs: int,
    augment: Any = None,
    batch_hook: BatchHook | None = None,
    progress: Any = None,
    bar: Any = None,
    frozen: bool = False,
    objective: Objective | None = None,
    per_step: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_norm: float | None = None,
    net: nn.Module | None = None,
    precision: Precision | None = None,
    nhwc: bool = False,
) -> Step:
    """One optimization step on a stored batch: augment, convert, defense hook, forward,
    backward, clip, update, step the per-step schedule; returns the batch's summed loss and
    its correct count. ``net`` is what the forward pass calls (``model``, or
    :class:`WithFeatures` of it with an ``objective``; under torchrun, that wrapped in
    ``DistributedDataParallel``; compiled with ``train.compile``). ``bar`` is the task of
    ``progress`` to advance. ``precision`` autocasts the forward pass and scales the loss
    (:mod:`toolkit.training.speed`); ``nhwc`` puts image batches in channels-last order."""
    forward: nn.Module = net if net is not None else model if objective is None else WithFeatures(model)
    mixed = precision if precision is not None else Precision()

    def step(epoch: int, xb: Any, yb: torch.Tensor, index: torch.Tensor) -> tuple[float, int]:
        check_stop()  # a signal whose exception a finalizer swallowed still stops the run
        if augment is not None:  # on the stored dtype (uint8 images): exact and 4x less memory
            xb = augment(xb, generator)
        xb = to_model_input(xb)
        if batch_hook is not None:
            xb, yb = batch_hook(model, xb, yb)
            train_mode(model, frozen)
        if nhwc:
            xb = as_channels_last(xb)
        with mixed.autocast():
            loss, logits = _loss(forward, xb, yb, index, objective)
        optimizer.zero_grad(set_to_none=True)
        mixed.backward(loss)
        mixed.step(optimizer, model.parameters(), clip_norm)
        if per_step is not None:
            per_step.step()
        value = _finite(float(loss.detach()), epoch)
        if bar is not None:
            text = f"training epoch {epoch}/{epochs} loss {value:.3f}"
            progress.update(bar, advance=1, description=text)
        return value * len(yb), int((logits.detach().argmax(1) == yb).sum())

    return step


def _loss(
    net: nn.Module, xb: Any, yb: torch.Tensor, index: torch.Tensor, objective: Objective | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's loss (cross-entropy, plus ``objective`` of the features) and its logits."""
    if objective is None:
        logits = net(xb)
        return F.cross_entropy(logits, yb), logits
    features, logits = net(xb)
    return F.cross_entropy(logits, yb) + objective(features, index), logits


def _finite(value: float, epoch: int) -> float:
    """``value``, or :class:`TrainingDiverged` when it is not finite."""
    if not math.isfinite(value):  # stop at once: a diverged model must not be cached
        raise TrainingDiverged(
            f"training diverged: the loss is {value} in epoch {epoch}; lower train.lr "
            "(or check the data for non-finite values); nothing was stored in the cache"
        )
    return value
