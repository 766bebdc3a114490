"""Three defenses, one of each family: a data subsample, input noise on training batches,
and a fine-tuning loop of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.data.base import DataBundle, DataInfo
from toolkit.data.domain import Domain
from toolkit.data.inputs import num_samples, take, to_device, to_model_input
from toolkit.protocols import BatchDefense, DataDefense, TrainingDefense


class Subsample(DataDefense):
    """Train on a seeded random share ``fraction`` of the training samples.

    Args:
        fraction: share kept (default 0.8).
        seed: seeds which samples are kept.
    """

    def __init__(self, *, fraction: float = 0.8, seed: int = 0) -> None:
        self.fraction = fraction
        self.seed = seed

    def transform(self, bundle: DataBundle) -> DataBundle:
        n = len(bundle.train)
        keep = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))[
            : max(1, round(self.fraction * n))
        ]
        return DataBundle(
            bundle.train.subset(keep.sort().values),
            bundle.test,
            bundle.info,
            bundle.ood,
            list(bundle.ood_class_names),
            dict(bundle.extras),
        )


class InputNoise(BatchDefense):
    """Gaussian noise of standard deviation ``std`` on every training batch, clamped to the
    data's input domain (multi-part inputs pass unchanged).

    Args:
        std: the noise level (default 0.05).
        seed: seeds the noise.
    """

    def __init__(self, *, std: float = 0.05, seed: int = 0) -> None:
        self.std = std
        self.generator = torch.Generator().manual_seed(seed)
        self.domain = Domain.unit()

    def bind(self, info: DataInfo) -> InputNoise:
        self.domain = info.input_domain
        return self

    def transform(self, model: nn.Module, x: Any, y: torch.Tensor) -> tuple[Any, torch.Tensor]:
        if isinstance(x, Mapping) or self.domain.kind == "discrete":
            return x, y
        noise = torch.randn(x.shape, generator=self.generator).to(x)
        return self.domain.clamp(x + self.std * noise), y


class FineTune(TrainingDefense):
    """Fine-tune the trained model with SGD for a few epochs at a small learning rate.

    Args:
        epochs: passes over the training split (default 1).
        lr: the learning rate (default 0.01).
        batch_size: samples per step (default 32).
    """

    def __init__(self, *, epochs: int = 1, lr: float = 0.01, batch_size: int = 32) -> None:
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size

    def train(
        self, model: nn.Module, data: DataBundle, *, seed: int, device: Any = "cpu", progress: Any = None
    ) -> list[dict[str, float]]:
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=self.lr)
        x, y = data.train.x, data.train.y
        history = []
        model.train()
        for epoch in range(1, self.epochs + 1):
            total = 0.0
            order = torch.randperm(num_samples(x), generator=generator)
            for start in range(0, len(order), self.batch_size):
                index = order[start : start + self.batch_size]
                xb = to_model_input(to_device(take(x, index), device))
                loss = F.cross_entropy(model(xb), y[index].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(index)
            history.append({"epoch": epoch, "loss": total / len(order)})
        model.eval()
        return history
