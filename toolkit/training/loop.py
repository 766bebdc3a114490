"""The one supervised training loop every task uses: :func:`train` and its epochs.

Mini-batch training with cross-entropy, ``loss = CE(model(augment(x_b)), y_b)``, with the
optimizer and schedules of :mod:`toolkit.training.optim` and the step of
:mod:`toolkit.training.step`. Shuffling and augmentation draw from one generator seeded by
the recipe, so a CPU run is repeatable. After every epoch the loss and accuracy on the
training and test splits are recorded (:mod:`toolkit.training.evaluation`), in float32
whatever the ``[train]`` table's fast paths (:mod:`toolkit.training.speed`); with
``select = "best"`` the weights of the epoch with the best monitored score are kept. A
classifier with a frozen backbone trains on its features computed once
(:mod:`toolkit.training.frozen`); under torchrun the epochs are sharded over the processes
(:mod:`toolkit.training.ddp`).

Example:
    >>> from toolkit.data.synthetic import load
    >>> from toolkit.models.mlp import build
    >>> from toolkit.recipe import TrainConfig
    >>> data = load(0)
    >>> history = train(build(data.info), data.train, TrainConfig(epochs=1, lr=0.1), seed=0)
    >>> sorted(history[0])
    ['epoch', 'lr', 'seconds', 'train_accuracy', 'train_loss']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from toolkit.augment import batch_augmentation
from toolkit.data.base import DataInfo, Split
from toolkit.data.inputs import num_samples, take, to_device
from toolkit.data.mapped import is_mapped
from toolkit.errors import UsageError
from toolkit.recipe import TrainConfig
from toolkit.training.ddp import make_plan
from toolkit.training.evaluation import Best, scores
from toolkit.training.frozen import feature_splits, frozen_backbone, train_mode
from toolkit.training.optim import make_optimizer, make_schedule, step_schedule
from toolkit.training.speed import channels_last, compiled, precision_for
from toolkit.training.step import BatchHook, Objective, WithFeatures, make_step


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
    info: DataInfo | None = None,
    cache_features: bool = True,
    objective: Objective | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` in place on ``data`` and return the per-epoch history.

    A classifier whose backbone is frozen (:func:`frozen_backbone`) keeps the backbone in
    eval mode; without augmentation or a batch defense, and with ``cache_features``, its
    features are computed once and only the neck and head see the epochs.

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
        info: the data's description (augmentation is refused unless it is image data).
        cache_features: compute a frozen backbone's features once (default true).
        objective: a term added to the cross-entropy of each batch, from the penultimate
            features and the samples' indices (a poisoning attack's, e.g. adversarial
            embedding).

    Returns:
        One dict per epoch: ``epoch``, ``train_loss``, ``train_accuracy`` (running, over the
        epoch's batches), ``test_loss`` and ``test_accuracy`` (if ``test`` is given), ``lr``
        and ``seconds``.
    """
    device = torch.device(device)
    augment = augmentation(config, data, info)
    frozen = frozen_backbone(model)
    if frozen and cache_features and augment is None and batch_hook is None:
        tail, features, held = feature_splits(model, data, test, device, eval_batch_size)
        history = run_epochs(
            tail, features, config, seed=seed, device=device, test=held, eval_batch_size=eval_batch_size,
            progress=progress, objective=objective,
        )  # fmt: skip
        model.eval()
        return history
    return run_epochs(
        model, data, config, seed=seed, device=device, test=test, eval_batch_size=eval_batch_size,
        augment=augment, batch_hook=batch_hook, progress=progress, frozen=frozen, objective=objective,
    )  # fmt: skip


def run_epochs(
    model: nn.Module,
    data: Split,
    config: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    test: Split | None,
    eval_batch_size: int,
    augment: Any = None,
    batch_hook: BatchHook | None = None,
    progress: Any = None,
    frozen: bool = False,
    objective: Objective | None = None,
) -> list[dict[str, float]]:
    """The epochs of :func:`train` on ``model`` (a classifier, or the tail of one); under
    torchrun, sharded over the processes (:class:`~toolkit.training.ddp.Shards`)."""
    plan = make_plan(config, num_samples(data.x), seed)
    optimizer = make_optimizer(model.parameters(), config)
    schedule = make_schedule(optimizer, config)
    # images stored on disk stay there and go to the device a batch at a time
    x_all = data.x if is_mapped(data.x) else to_device(data.x, device)
    y_all = data.y.to(device)
    steps = plan.steps
    bar = progress.add_task("training", total=config.epochs * steps) if progress is not None else None
    nhwc = config.channels_last and _has_images(data.x)
    step = make_step(
        model, optimizer, generator=plan.generator, epochs=config.epochs, augment=augment,
        batch_hook=batch_hook, progress=progress, bar=bar, frozen=frozen, objective=objective,
        per_step=step_schedule(optimizer, config, config.epochs * steps), clip_norm=config.clip_norm,
        net=_forward(model, config, plan, device, objective, nhwc=nhwc),
        precision=precision_for(config.amp, device), nhwc=nhwc,
    )  # fmt: skip
    best = Best(config, test)

    history: list[dict[str, Any]] = []
    train_mode(model, frozen)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        order = plan.order(epoch)
        loss_sum, correct = one_epoch(x_all, y_all, plan.batch_size, order, partial(step, epoch))
        plan.settle(model)
        if schedule is not None:
            schedule.step()
        loss, accuracy = plan.totals(loss_sum, correct, len(order))
        record = {"epoch": epoch, "train_loss": loss, "train_accuracy": accuracy}
        record["lr"] = lr
        if test is not None and len(test) > 0:
            record.update(plan.agree(scores(model, test, config, device, eval_batch_size)))
            best.offer(model, record)
            train_mode(model, frozen)
        record["seconds"] = time.perf_counter() - started
        history.append(record)
    best.restore(model, history)
    if nhwc:  # the stored model is as any other: contiguous weights
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


def _forward(
    model: nn.Module, config: TrainConfig, plan: Any, device: torch.device, objective: Any, *, nhwc: bool
) -> nn.Module:
    """What a training step calls: the model (with its features, for an ``objective``), in
    channels-last order with ``nhwc``, wrapped for torchrun by the plan, compiled with
    ``train.compile``."""
    if nhwc:
        channels_last(model)
    net = plan.forward(model if objective is None else WithFeatures(model), device)
    return compiled(net) if config.compile else net


def _has_images(x: Any) -> bool:
    """Whether stored inputs are images ``(N, C, H, W)`` (channels-last applies to them only)."""
    return not isinstance(x, Mapping) and len(getattr(x, "shape", ())) == 4


def one_epoch(
    x: Any,
    y: torch.Tensor,
    batch_size: int,
    order: torch.Tensor,
    step: Callable[[Any, torch.Tensor, torch.Tensor], Any],
) -> tuple[float, int]:
    """One pass over the samples ``order`` indexes, in that order; returns the summed loss
    and the correct count."""
    order = order.to(y.device)
    loss_sum, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        xb = to_device(take(x, idx.to(_on(x))), y.device)  # no-ops when both sit on one device
        loss, right = step(xb, y[idx], idx)
        loss_sum += loss
        correct += right
    return loss_sum, correct


def _on(x: Any) -> torch.device:
    """The device of stored inputs (of a mapping's first tensor)."""
    return next(iter(x.values())).device if isinstance(x, Mapping) else x.device


def augmentation(config: TrainConfig, data: Split, info: DataInfo | None) -> Any:
    """The batch augmentation of ``[train]``, refused for anything but images in ``[0, 1]``
    (crops pad with zeros, the lower bound of that domain)."""
    augment = batch_augmentation(config.augment, padding=config.crop_padding)
    is_image = isinstance(data.x, torch.Tensor) and data.x.dim() == 4
    if info is not None:
        is_image = is_image and info.modality == "image" and info.input_domain.is_unit
    if augment is not None and not is_image:
        shape = tuple(data.x.shape) if isinstance(data.x, torch.Tensor) else "a mapping of tensors"
        raise UsageError(
            f"train.augment {config.augment} needs images (N, C, H, W), but the inputs have shape "
            f"{shape}; remove train.augment"
        )
    return augment
