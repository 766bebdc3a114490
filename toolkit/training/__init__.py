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
unchanged (see :class:`~toolkit.training.ddp.Shards`).

The modules:

- :mod:`~toolkit.training.optim`: the optimizer and the learning-rate schedules;
- :mod:`~toolkit.training.loop`: :func:`train` and its epochs;
- :mod:`~toolkit.training.step`: one optimization step, the hooks into it, divergence;
- :mod:`~toolkit.training.ddp`: how the epochs walk the data, in one process or sharded;
- :mod:`~toolkit.training.frozen`: a frozen backbone's head trained on features computed once;
- :mod:`~toolkit.training.evaluation`: loss, predictions and accuracy on a split, and the
  epoch to keep.

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

from toolkit.training.evaluation import evaluate, predict
from toolkit.training.frozen import backbone_features, frozen_backbone
from toolkit.training.loop import train
from toolkit.training.optim import make_optimizer, make_schedule, step_schedule
from toolkit.training.step import BatchHook, Objective, TrainingDiverged

__all__ = [
    "BatchHook",
    "Objective",
    "TrainingDiverged",
    "backbone_features",
    "evaluate",
    "frozen_backbone",
    "make_optimizer",
    "make_schedule",
    "predict",
    "step_schedule",
    "train",
]
