"""The one supervised training loop every task uses; defenses hook into it.

Mini-batch training with cross-entropy: ``loss = CE(model(augment(x_b)), y_b)``, optimizer
SGD (momentum, Nesterov, weight decay), Adam or AdamW, an optional cosine or step learning
rate schedule stepped once per epoch or a linear one stepped per step (warm-up from 0 over
``warmup`` of the steps, then decay to 0, as in Devlin et al. 2019 and Hugging Face's
``get_linear_schedule_with_warmup``), optional clipping of the gradients' global L2 norm,
and batch-level augmentation on tensors. Shuffling and augmentation draw from one
generator seeded by the recipe, so a CPU run is repeatable. After every epoch the loss and
accuracy on the training and test splits are recorded (and the test split's Matthews
correlation when ``monitor = "mcc"``); with ``select = "best"`` the weights of the epoch
with the best monitored score are kept.

Under ``torchrun`` (:mod:`toolkit.execution.distributed`) the same loop trains data-parallel:
each of the W processes trains a ``DistributedDataParallel`` copy of the model on its own
shard of every epoch, with batches of ``batch_size / W`` samples, so that one step of all
the processes together sees ``batch_size`` samples and the recipe's learning rate applies
unchanged (see :class:`_Shards`).

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

import math
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.augment import batch_augmentation
from toolkit.data.base import DataInfo, Split
from toolkit.data.inputs import batches, num_samples, take, to_device, to_model_input
from toolkit.data.mapped import is_mapped
from toolkit.errors import RunError
from toolkit.interrupt import check_stop
from toolkit.modelstate import eval_mode
from toolkit.recipe import TrainConfig

#: A defense's hook into training: ``(model, x, y) -> (x, y)`` for each batch, after augmentation.
BatchHook = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
#: A term added to the loss: ``(features, index) -> scalar`` with the batch's penultimate
#: features and its samples' indices in the training split (an adaptive poisoning attack's).
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrainingDiverged(RunError):
    """The loss became non-finite: the run fails (exit 1) and nothing is cached."""


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


def evaluate(
    model: nn.Module, split: Split, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``split`` (eval mode, no gradients)."""
    loss, predictions = predict(model, split, device=device, batch_size=batch_size)
    return loss, float((predictions == split.y).float().mean()) if len(split) else 0.0


def predict(
    model: nn.Module, split: Split, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> tuple[float, torch.Tensor]:
    """Mean cross-entropy and the predicted classes (on the CPU) of ``model`` on ``split``."""
    total_loss, parts = 0.0, []
    with eval_mode(model), torch.inference_mode():
        for start, xb in batches(split.x, batch_size):
            yb = split.y[start : start + batch_size].to(device)
            logits = model(to_model_input(to_device(xb, device)))
            total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            parts.append(logits.argmax(1).cpu())
    predictions = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
    return total_loss / max(len(split), 1), predictions


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
    augment = _augmentation(config, data, info)
    frozen = frozen_backbone(model)
    if frozen and cache_features and augment is None and batch_hook is None:
        return _train_on_features(
            model, data, config, seed=seed, device=device, test=test,
            eval_batch_size=eval_batch_size, progress=progress, objective=objective,
        )  # fmt: skip
    return _loop(
        model, data, config, seed=seed, device=device, test=test, eval_batch_size=eval_batch_size,
        augment=augment, batch_hook=batch_hook, progress=progress, frozen=frozen, objective=objective,
    )  # fmt: skip


def frozen_backbone(model: nn.Module) -> bool:
    """Whether ``model`` is a classifier whose normalization and backbone train no parameter
    (``freeze = "backbone"``): only its neck and head learn."""
    parts = [getattr(model, name, None) for name in ("normalize", "backbone", "neck", "head")]
    if any(part is None for part in parts) or not hasattr(model, "forward_features"):
        return False
    normalize, backbone = parts[0], parts[1]
    assert isinstance(normalize, nn.Module) and isinstance(backbone, nn.Module)
    return not any(p.requires_grad for p in (*normalize.parameters(), *backbone.parameters()))


def _train_mode(model: nn.Module, frozen: bool) -> None:
    """Train mode, except for a frozen backbone: it stays in eval mode (batch norm too)."""
    model.train()
    if frozen:
        model.normalize.eval()  # type: ignore[union-attr]
        model.backbone.eval()  # type: ignore[union-attr]


class _Tail(nn.Module):
    """The trainable end of a classifier with a frozen backbone: ``head(neck(features))``."""

    def __init__(self, neck: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.neck, self.head = neck, head

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.neck(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(features))


def backbone_features(model: nn.Module, x: Any, device: torch.device, batch_size: int) -> torch.Tensor:
    """``backbone(normalize(x))`` of a classifier in eval mode, batch by batch (stored inputs
    ``x``): what a frozen backbone gives its neck and head."""
    parts = []
    with eval_mode(model), torch.inference_mode():
        for _, xb in batches(x, batch_size):
            xb = to_model_input(to_device(xb, device))
            parts.append(model.backbone(model.normalize(xb)))  # type: ignore[operator]
    return torch.cat(parts).clone()  # out of inference mode, so autograd may use it


def _train_on_features(
    model: nn.Module,
    data: Split,
    config: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    test: Split | None,
    eval_batch_size: int,
    progress: Any,
    objective: Objective | None = None,
) -> list[dict[str, float]]:
    """Train the neck and head of a classifier with a frozen backbone on the backbone's
    features, computed once: the same steps, shuffles and numbers as a full forward pass
    each epoch (up to floating-point rounding), at the cost of one pass over the data."""
    tail = _Tail(model.neck, model.head)  # type: ignore[arg-type]
    features = Split(backbone_features(model, data.x, device, eval_batch_size), data.y)
    held = None
    if test is not None and len(test) > 0:
        held = Split(backbone_features(model, test.x, device, eval_batch_size), test.y)
    history = _loop(
        tail, features, config, seed=seed, device=device, test=held, eval_batch_size=eval_batch_size,
        augment=None, batch_hook=None, progress=progress, frozen=False, objective=objective,
    )  # fmt: skip
    model.eval()
    return history


def _loop(
    model: nn.Module,
    data: Split,
    config: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    test: Split | None,
    eval_batch_size: int,
    augment: Any,
    batch_hook: BatchHook | None,
    progress: Any,
    frozen: bool,
    objective: Objective | None = None,
) -> list[dict[str, float]]:
    """The epochs of :func:`train` on ``model`` (a classifier, or the tail of one); under
    torchrun, sharded over the processes (:class:`_Shards`)."""
    from toolkit.execution import distributed

    plan = (_Shards if distributed.active() else _Plan)(config, num_samples(data.x), seed)
    optimizer = make_optimizer(model.parameters(), config)
    schedule = make_schedule(optimizer, config)
    # images stored on disk stay there and go to the device a batch at a time
    x_all = data.x if is_mapped(data.x) else to_device(data.x, device)
    y_all = data.y.to(device)
    steps = plan.steps
    bar = progress.add_task("training", total=config.epochs * steps) if progress is not None else None
    generator = plan.generator
    step = _stepper(
        model, optimizer, augment, batch_hook, generator, progress, bar, config.epochs, frozen, objective,
        per_step=step_schedule(optimizer, config, config.epochs * steps), clip_norm=config.clip_norm,
        net=plan.forward(model if objective is None else _WithFeatures(model), device),
    )  # fmt: skip
    best = _Best(config, test)

    history: list[dict[str, Any]] = []
    _train_mode(model, frozen)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        order = plan.order(epoch)
        loss_sum, correct = _epoch(x_all, y_all, plan.batch_size, order, partial(step, epoch))
        plan.settle(model)
        if schedule is not None:
            schedule.step()
        loss, accuracy = plan.totals(loss_sum, correct, len(order))
        record = {"epoch": epoch, "train_loss": loss, "train_accuracy": accuracy}
        record["lr"] = lr
        if test is not None and len(test) > 0:
            record.update(plan.agree(_scores(model, test, config, device, eval_batch_size)))
            best.offer(model, record)
            _train_mode(model, frozen)
        record["seconds"] = time.perf_counter() - started
        history.append(record)
    best.restore(model, history)
    model.eval()
    return history


def _scores(
    model: nn.Module, test: Split, config: TrainConfig, device: torch.device, batch_size: int
) -> dict[str, float]:
    """The test split's loss and accuracy (and Matthews correlation, when monitored)."""
    loss, predictions = predict(model, test, device=device, batch_size=batch_size)
    out = {"test_loss": loss, "test_accuracy": float((predictions == test.y).float().mean())}
    if config.monitor == "mcc":
        from toolkit.metrics.classification import mcc

        out["test_mcc"] = mcc(test.y.numpy(), predictions.numpy())
    return out


class _Best:
    """The weights of the epoch with the best monitored test score (``select = "best"``)."""

    def __init__(self, config: TrainConfig, test: Split | None) -> None:
        self.key = f"test_{config.monitor}"
        self.active = config.select == "best"
        if self.active and (test is None or len(test) == 0):
            raise RunError('train.select = "best" needs a test split to score each epoch on')
        self.score, self.epoch = -math.inf, 0
        self.state: dict[str, torch.Tensor] | None = None

    def offer(self, model: nn.Module, record: dict[str, Any]) -> None:
        if self.active and record[self.key] > self.score:
            self.score, self.epoch = record[self.key], record["epoch"]
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def restore(self, model: nn.Module, history: list[dict[str, Any]]) -> None:
        """Load the best epoch's weights and mark its record ``selected``."""
        if self.active and self.state is not None:
            model.load_state_dict(self.state)
            history[self.epoch - 1]["selected"] = 1.0


class _Plan:
    """How the epochs of one process walk the training data: each epoch one permutation of
    all ``n`` samples, drawn from the loop's generator (which augmentation shares), in batches
    of ``train.batch_size``."""

    def __init__(self, config: TrainConfig, n: int, seed: int) -> None:
        self.n, self.batch_size = n, config.batch_size
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def steps(self) -> int:
        """Optimizer steps per epoch."""
        return (self.n + self.batch_size - 1) // self.batch_size

    def order(self, epoch: int) -> torch.Tensor:
        """The indices this process trains on in ``epoch``, in order."""
        return torch.randperm(self.n, generator=self.generator)

    def forward(self, module: nn.Module, device: torch.device) -> nn.Module:
        """What the training step calls: ``module`` itself."""
        return module

    def settle(self, model: nn.Module) -> None:
        """Make ``model`` the same in every process after an epoch: nothing to do in one."""

    def totals(self, loss_sum: float, correct: int, count: int) -> tuple[float, float]:
        """The epoch's mean training loss and accuracy."""
        return loss_sum / self.n, correct / self.n

    def agree(self, scores: dict[str, float]) -> dict[str, float]:
        """The test scores every process records: this process's."""
        return scores


class _Shards(_Plan):
    """Data-parallel epochs under torchrun, over W processes.

    Each process trains a ``DistributedDataParallel`` copy of the model (DDP averages the
    gradients of every step over the processes) on its own shard of each epoch's
    permutation: a ``DistributedSampler`` seeded with the recipe's seed, ``set_epoch`` every
    epoch, so each epoch deals the processes different samples (the last shard is padded
    with the first samples, as the sampler does, so all take the same number of steps). The
    per-process batch is ``train.batch_size / W``: all processes together take a step of
    ``train.batch_size`` samples, as one process does, so the recipe's learning rate
    applies unchanged (``batch_size`` must therefore be a multiple of W). Each process
    augments with its own generator (``seed + rank``). After each epoch rank 0's buffers
    (batch norm's running statistics) go to all, so every process evaluates and ends with
    the same model. The epoch's loss and accuracy are summed over the processes and the test
    scores averaged (each process scores the whole test split), so every process records
    the same history. The numbers match a
    one-process run within noise, not bit for bit: other batches, and sums in another order.
    """

    def __init__(self, config: TrainConfig, n: int, seed: int) -> None:
        from torch.utils.data.distributed import DistributedSampler

        from toolkit.errors import UsageError
        from toolkit.execution import distributed

        world, rank = distributed.world_size(), distributed.rank()
        if distributed.active():  # the sizes must agree, or the steps would not pair up (a hang)
            total, squares = distributed.sum_all([float(n), float(n) ** 2])
            if world * squares != total * total:
                raise RunError(
                    f"the processes train on different data ({n} samples on rank {rank}, "
                    f"{total / world:g} on average): a component gave another result in another "
                    "process; run in one process"
                )
        if config.batch_size % world:
            raise UsageError(
                f"train.batch_size {config.batch_size} does not split over {world} processes: each "
                f"trains on batch_size / {world} samples per step; use a multiple of {world} "
                f"(--set train.batch_size={max(world, config.batch_size // world * world)}) or "
                "another --nproc_per_node"
            )
        super().__init__(config, n, seed)
        self.world, self.batch_size = world, config.batch_size // world
        self.generator = torch.Generator().manual_seed(seed + rank)
        self.sampler: DistributedSampler[int] = DistributedSampler(
            range(n),  # type: ignore[arg-type]  # any sized sequence of indices
            num_replicas=world, rank=rank, shuffle=True, seed=seed,
        )  # fmt: skip

    @property
    def steps(self) -> int:
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size

    def settle(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch norm's running statistics) on every rank: DDP sends them
        before each forward pass, so after an epoch's last step each rank still holds its own
        batch's update, and the model evaluated and returned would differ between ranks."""
        from toolkit.execution.distributed import send

        send(model.buffers())

    def order(self, epoch: int) -> torch.Tensor:
        self.sampler.set_epoch(epoch)
        return torch.tensor(list(self.sampler), dtype=torch.long)

    def forward(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in ``DistributedDataParallel`` (whose construction sends rank 0's weights
        to all); ``static_graph`` copes with parameters the forward pass leaves unused (a text
        checkpoint's pooler under mean pooling)."""
        from torch.nn.parallel import DistributedDataParallel

        if device.type != "cuda":
            return DistributedDataParallel(module, static_graph=True)
        index = device.index if device.index is not None else torch.cuda.current_device()
        return DistributedDataParallel(module, device_ids=[index], static_graph=True)

    def totals(self, loss_sum: float, correct: int, count: int) -> tuple[float, float]:
        from toolkit.execution.distributed import sum_all

        loss, right, seen = sum_all([loss_sum, float(correct), float(count)])
        return loss / seen, right / seen

    def agree(self, scores: dict[str, float]) -> dict[str, float]:
        from toolkit.execution.distributed import sum_all

        summed = sum_all([float(v) for v in scores.values()])
        return {key: value / self.world for key, value in zip(scores, summed, strict=True)}


class _WithFeatures(nn.Module):
    """``(features, head(features))`` of a classifier in one forward pass: what a training
    step with an ``objective`` calls (DDP sees every forward pass it must synchronize)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model.forward_features(x)  # type: ignore[operator]
        return features, self.model.head(features)  # type: ignore[operator]


def _stepper(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    augment: Any,
    batch_hook: BatchHook | None,
    generator: torch.Generator,
    progress: Any,
    bar: Any,
    epochs: int,
    frozen: bool = False,
    objective: Objective | None = None,
    *,
    per_step: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_norm: float | None = None,
    net: nn.Module | None = None,
) -> Callable[[int, Any, torch.Tensor, torch.Tensor], tuple[float, int]]:
    """One optimization step on a stored batch: augment, convert, defense hook, forward,
    backward, clip, update, step the per-step schedule; returns the batch's summed loss and
    its correct count. ``net`` is what the forward pass calls (``model``, or
    :class:`_WithFeatures` of it with an ``objective``; under torchrun, that wrapped in
    ``DistributedDataParallel``)."""
    if net is None:
        net = model if objective is None else _WithFeatures(model)

    def step(epoch: int, xb: Any, yb: torch.Tensor, index: torch.Tensor) -> tuple[float, int]:
        check_stop()  # a signal whose exception a finalizer swallowed still stops the run
        if augment is not None:  # on the stored dtype (uint8 images): exact and 4x less memory
            xb = augment(xb, generator)
        xb = to_model_input(xb)
        if batch_hook is not None:
            xb, yb = batch_hook(model, xb, yb)
            _train_mode(model, frozen)
        if objective is None:
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
        else:
            features, logits = net(xb)
            loss = F.cross_entropy(logits, yb) + objective(features, index)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if per_step is not None:
            per_step.step()
        value = float(loss.detach())
        if not math.isfinite(value):  # stop at once: a diverged model must not be cached
            raise TrainingDiverged(
                f"training diverged: the loss is {value} in epoch {epoch}; lower train.lr "
                "(or check the data for non-finite values); nothing was stored in the cache"
            )
        if bar is not None:
            text = f"training epoch {epoch}/{epochs} loss {value:.3f}"
            progress.update(bar, advance=1, description=text)
        return value * len(yb), int((logits.detach().argmax(1) == yb).sum())

    return step


def _epoch(
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


def _augmentation(config: TrainConfig, data: Split, info: DataInfo | None) -> Any:
    """The batch augmentation of ``[train]``, refused for anything but images in ``[0, 1]``
    (crops pad with zeros, the lower bound of that domain)."""
    augment = batch_augmentation(config.augment, padding=config.crop_padding)
    is_image = isinstance(data.x, torch.Tensor) and data.x.dim() == 4
    if info is not None:
        is_image = is_image and info.modality == "image" and info.input_domain.is_unit
    if augment is not None and not is_image:
        from toolkit.errors import UsageError

        shape = tuple(data.x.shape) if isinstance(data.x, torch.Tensor) else "a mapping of tensors"
        raise UsageError(
            f"train.augment {config.augment} needs images (N, C, H, W), but the inputs have shape "
            f"{shape}; remove train.augment"
        )
    return augment
