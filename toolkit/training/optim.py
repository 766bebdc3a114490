"""Optimizers and learning-rate schedules of the ``[train]`` table.

- Optimizer: SGD (momentum, Nesterov, weight decay), Adam or AdamW (optionally the fused
  kernel, where the parameters and the device allow it).
- Per-epoch schedule: cosine annealing to 0 over the epochs, or a step decay by ``gamma``
  every ``step_size`` epochs.
- Per-step schedule (``schedule = "linear"``): warm-up from 0 over ``warmup`` of the steps,
  then a linear decay to 0, as in Devlin et al. 2019 and Hugging Face's
  ``get_linear_schedule_with_warmup``.

Example:
    >>> import torch
    >>> from toolkit.recipe import TrainConfig
    >>> config = TrainConfig(lr=0.1, schedule="linear", warmup=0.5)
    >>> optimizer = make_optimizer([torch.nn.Parameter(torch.zeros(1))], config)
    >>> schedule = step_schedule(optimizer, config, 4)
    >>> rates = []
    >>> for _ in range(4):
    ...     rates.append(round(optimizer.param_groups[0]["lr"], 3))
    ...     optimizer.step()
    ...     schedule.step()
    >>> rates
    [0.05, 0.1, 0.1, 0.05]
"""

from __future__ import annotations

from typing import Any

import torch

from toolkit.recipe import TrainConfig


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
    if config.fused:
        params = list(params)
        try:  # the fused kernel needs floating-point parameters on a device that has it
            return cls(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def make_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-epoch learning-rate schedule (``None`` for a constant rate or a per-step one)."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    return None


def step_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-step schedule (``schedule = "linear"``) over ``steps`` optimizer steps in all:
    ``lr * s / w`` for the first ``w = warmup * steps`` steps, then ``lr * (steps - s) / (steps - w)``."""
    if config.schedule != "linear":
        return None
    warm = int(config.warmup * steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (steps - step) / max(1, steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
