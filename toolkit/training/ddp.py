"""How the epochs walk the training data: in one process, or data-parallel under torchrun.

- :class:`Plan` (one process): each epoch one permutation of all ``n`` samples, drawn from
  the loop's generator (which augmentation shares), in batches of ``train.batch_size``.
- :class:`Shards` (under ``torchrun``, :mod:`toolkit.execution.distributed`): each of the W
  processes trains a ``DistributedDataParallel`` copy of the model on its own shard of every
  epoch, with batches of ``batch_size / W`` samples, so that one step of all the processes
  together sees ``batch_size`` samples and the recipe's learning rate applies unchanged.

:func:`make_plan` picks the one that applies.

Example:
    >>> from toolkit.recipe import TrainConfig
    >>> plan = Plan(TrainConfig(batch_size=4), 10, seed=0)
    >>> plan.steps, sorted(plan.order(1).tolist()) == list(range(10))
    (3, True)
"""

from __future__ import annotations

import torch
from torch import nn

from toolkit.errors import RunError, UsageError
from toolkit.recipe import TrainConfig


def make_plan(config: TrainConfig, n: int, seed: int) -> Plan:
    """:class:`Shards` under torchrun, else :class:`Plan`, over ``n`` training samples."""
    from toolkit.execution import distributed

    return (Shards if distributed.active() else Plan)(config, n, seed)


class Plan:
    """How the epochs of one process walk the training data: each epoch one permutation of
    all ``n`` samples, drawn from the loop's generator (which augmentation shares), in batches
    of ``train.batch_size``.

    Args:
        config: the ``[train]`` table.
        n: the number of training samples.
        seed: seeds the generator of shuffling and augmentation.
    """

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


class Shards(Plan):
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

    Raises:
        RunError: the processes hold training splits of different sizes.
        UsageError: ``train.batch_size`` is not a multiple of W.
    """

    def __init__(self, config: TrainConfig, n: int, seed: int) -> None:
        from torch.utils.data.distributed import DistributedSampler

        from toolkit.execution import distributed

        world, rank = distributed.world_size(), distributed.rank()
        if distributed.active():  # the sizes must agree, or the steps would not pair up (a hang)
            _check_same_data(n, world, rank)
        _check_batch_size(config.batch_size, world)
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


def _check_same_data(n: int, world: int, rank: int) -> None:
    """Raise :class:`RunError` unless every process trains on ``n`` samples (a collective)."""
    from toolkit.execution import distributed

    total, squares = distributed.sum_all([float(n), float(n) ** 2])
    if world * squares != total * total:
        raise RunError(
            f"the processes train on different data ({n} samples on rank {rank}, "
            f"{total / world:g} on average): a component gave another result in another "
            "process; run in one process"
        )


def _check_batch_size(batch_size: int, world: int) -> None:
    """Raise :class:`UsageError` unless ``batch_size`` splits evenly over ``world`` processes."""
    if batch_size % world:
        raise UsageError(
            f"train.batch_size {batch_size} does not split over {world} processes: each "
            f"trains on batch_size / {world} samples per step; use a multiple of {world} "
            f"(--set train.batch_size={max(world, batch_size // world * world)}) or "
            "another --nproc_per_node"
        )
