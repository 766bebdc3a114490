"""The one supervised training loop every task uses; defenses hook into it.

Mini-batch training with cross-entropy: ``loss = CE(model(augment(x_b)), y_b)``, optimizer
SGD (momentum, Nesterov, weight decay), Adam or AdamW, an optional cosine or step learning
rate schedule stepped once per epoch, and batch-level augmentation on tensors. Shuffling
and augmentation draw from one generator seeded by the recipe, so a CPU run is repeatable.
After every epoch the loss and accuracy on the training and test splits are recorded.

Example:
    >>> from toolkit.data.synthetic import load
    >>> from toolkit.models.mlp import build
    >>> from toolkit.recipe import TrainConfig
    >>> data = load(0)
    >>> history = train(build(data.info), data.train, TrainConfig(epochs=2, lr=0.1), seed=0,
    ...                 test=data.test)
    >>> len(history), sorted(history[0])[:3]
    (2, ['epoch', 'lr', 'seconds'])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.augment import batch_augmentation
from toolkit.data.base import Split, to_input
from toolkit.recipe import TrainConfig

#: A defense's hook into training: ``(model, x, y) -> (x, y)`` for each batch, after augmentation.
BatchHook = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def make_optimizer(params: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named in the ``[train]`` table."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-epoch learning-rate schedule (``None`` for a constant rate)."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    return None


def evaluate(
    model: nn.Module, split: Split, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        with torch.inference_mode():
            for start in range(0, len(split), batch_size):
                xb = to_input(split.x[start : start + batch_size].to(device))
                yb = split.y[start : start + batch_size].to(device)
                logits = model(xb)
                total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
                correct += int((logits.argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    n = max(len(split), 1)
    return total_loss / n, correct / n


def train(
    model: nn.Module,
    data: Split,
    config: TrainConfig,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    test: Split | None = None,
    eval_batch_size: int = 1024,
    batch_hook: BatchHook | None = None,
    progress: Any = None,
) -> list[dict[str, float]]:
    """Train ``model`` in place on ``data`` and return the per-epoch history.

    Args:
        model: the classifier, already on ``device``.
        data: the training split.
        config: the recipe's ``[train]`` table.
        seed: seeds shuffling and augmentation.
        device: where the batches go.
        test: a split evaluated after every epoch (its loss and accuracy enter the history).
        eval_batch_size: batch size of the evaluation passes.
        batch_hook: a defense's per-batch transform, called after augmentation.
        progress: a ``rich.progress.Progress`` to show a bar in, or ``None``.

    Returns:
        One dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy`` (running, over the
        epoch's batches), ``test_loss`` and ``test_accuracy`` (if ``test`` is given), ``lr``
        and ``seconds``.
    """
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model.parameters(), config)
    schedule = make_schedule(optimizer, config)
    augment = batch_augmentation(config.augment, padding=config.crop_padding)
    if augment is not None and data.x.dim() != 4:
        from toolkit.errors import UsageError

        raise UsageError(
            f"train.augment {config.augment} needs images (N, C, H, W), but the inputs have shape "
            f"{tuple(data.x.shape)}; remove train.augment"
        )
    x_all, y_all = data.x.to(device), data.y.to(device)
    n = len(data)
    steps = (n + config.batch_size - 1) // config.batch_size
    bar = progress.add_task("training", total=config.epochs * steps) if progress is not None else None
    history: list[dict[str, float]] = []
    model.train()
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        lr = float(optimizer.param_groups[0]["lr"])
        for step in range(steps):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            xb, yb = x_all[idx], y_all[idx]
            if augment is not None:  # on the stored dtype (uint8 images): exact and 4x less memory
                xb = augment(xb, generator)
            xb = to_input(xb)
            if batch_hook is not None:
                xb, yb = batch_hook(model, xb, yb)
                model.train()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(yb)
            correct += int((logits.detach().argmax(1) == yb).sum())
            if bar is not None:
                progress.update(
                    bar,
                    advance=1,
                    description=f"training epoch {epoch}/{config.epochs} loss {float(loss.detach()):.3f}",
                )
        if schedule is not None:
            schedule.step()
        record: dict[str, float] = {
            "epoch": epoch,
            "train_loss": loss_sum / n,
            "train_accuracy": correct / n,
            "lr": lr,
        }
        if test is not None and len(test) > 0:
            record["test_loss"], record["test_accuracy"] = evaluate(
                model, test, device=device, batch_size=eval_batch_size
            )
        record["seconds"] = time.perf_counter() - started
        history.append(record)
    model.eval()
    return history
