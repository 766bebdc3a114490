"""Neural Cleanse: the smallest trigger that sends clean inputs to each class.

Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao, "Neural Cleanse: Identifying and Mitigating
Backdoor Attacks in Neural Networks", IEEE S&P 2019.

For each class ``t`` a mask ``m`` (one value per pixel, in ``[0, 1]``) and a pattern ``p``
(an image in ``[0, 1]``) are optimized so that stamped clean inputs

    x' = (1 - m) * x + m * p

are classified as ``t``, at the smallest mask:

    min_{m, p}  CE(f(x'), t) + lambda * |m|_1

with ``m = tanh(m') / 2 + 1/2`` and ``p = tanh(p') / 2 + 1/2`` (unconstrained ``m'``,
``p'``), Adam (``lr`` 0.1, betas 0.5 and 0.9), and ``lambda`` adapted as in the paper's
code: it starts at ``init_cost`` (1e-3); after ``patience`` (5) passes over the clean inputs
in which at least ``success_threshold`` (99%) of the stamped inputs reach ``t`` it is
multiplied by ``cost_multiplier`` (2), after ``patience`` passes below, divided by
``cost_multiplier ** 1.5``. The smallest mask of a pass that reaches the threshold is kept;
a class whose masks never reach it keeps its last mask (``reached`` says which). The L1
norms of the kept masks go through the median-absolute-deviation rule
(:func:`toolkit.detectors.scan.mad_outliers`): a class whose norm is small with anomaly
index above ``anomaly_threshold`` (2) is flagged as a backdoor target.

The classes are optimized together, ``chunk`` (16) at a time, each with its own ``lambda``,
in one batched forward pass per step (``chunk * batch_size`` images), so a scan of ten
classes costs ``steps`` passes rather than ``10 * steps``. ``steps`` counts optimizer steps
(default 1000: 64 passes over 500 images); the paper's code runs up to 1000 passes with an
early stop, which the toolkit keeps (a chunk stops when the weight of each of its classes
went both up and down and no best norm improved by 1% for ``5 * patience`` passes). It needs no
training data: ``samples`` clean images (default 500, a seeded
sample of what it is given) suffice. IBM ART implements Neural Cleanse for Keras models
only; the toolkit's tests check this decision rule against ART's ``outlier_detection`` on
the same masks.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from toolkit.detectors.scan import ModelScan, mad_outliers
from toolkit.modelstate import device_of, frozen


class NeuralCleanse:
    """Neural Cleanse (Wang et al., S&P 2019): reversed triggers and their mask norms.

    Args:
        steps: optimizer steps per class (default 1000; every class steps together).
        batch_size: clean images per class in a step (default 32).
        samples: clean images used (default 500, a seeded sample).
        lr: Adam's learning rate (default 0.1).
        init_cost: the first weight of the mask's L1 norm (default 1e-3).
        cost_multiplier: how the weight grows; it shrinks by its power 1.5 (default 2).
        patience: passes before the weight changes (default 5).
        success_threshold: share of stamped inputs that must reach the class (default 0.99).
        anomaly_threshold: anomaly index above which a small norm is flagged (default 2).
        chunk: classes optimized together in one batched pass (default 16; fewer for less memory).
        seed: seed of the sample, the initial masks and the batches (default 0).
    """

    modalities = ("image",)
    #: Few steps for the conformance checks (``toolkit.testing``), which check the contract.
    example_params: ClassVar[dict[str, Any]] = {"steps": 20, "samples": 64}

    def __init__(
        self,
        *,
        steps: Annotated[int, Field(ge=1)] = 1000,
        batch_size: Annotated[int, Field(ge=1)] = 32,
        samples: Annotated[int, Field(ge=1)] = 500,
        lr: Annotated[float, Field(gt=0)] = 0.1,
        init_cost: Annotated[float, Field(gt=0)] = 1e-3,
        cost_multiplier: Annotated[float, Field(gt=1)] = 2.0,
        patience: Annotated[int, Field(ge=1)] = 5,
        success_threshold: Annotated[float, Field(gt=0, le=1)] = 0.99,
        anomaly_threshold: Annotated[float, Field(gt=0)] = 2.0,
        chunk: Annotated[int, Field(ge=1)] = 16,
        seed: int = 0,
    ) -> None:
        self.steps, self.batch_size, self.samples, self.lr = steps, batch_size, samples, lr
        self.chunk = chunk
        self.init_cost, self.cost_multiplier, self.patience = init_cost, cost_multiplier, patience
        self.success_threshold, self.anomaly_threshold, self.seed = success_threshold, anomaly_threshold, seed

    def scan(self, model: nn.Module, x: torch.Tensor) -> ModelScan:
        """Reverse a trigger for every class of ``model`` from clean images ``x`` (floats in
        ``[0, 1]``, ``(N, C, H, W)``) and flag the classes whose trigger is anomalously small."""
        x = _checked(x)
        g = torch.Generator().manual_seed(self.seed)
        x = x[torch.randperm(len(x), generator=g)[: self.samples]].float()
        device = device_of(model)
        with frozen(model):
            k = int(model(x[:1].to(device)).shape[1])
            found = [self._search(model, x, torch.arange(start, min(k, start + self.chunk)), g, device)
                     for start in range(0, k, self.chunk)]  # fmt: skip
            mask = torch.cat([f[0] for f in found])
            pattern = torch.cat([f[1] for f in found])
            reached = [r for f in found for r in f[2]]
            rates = _success(model, x, mask, pattern, device, self.batch_size)
        norms = mask.flatten(1).sum(1).tolist()
        index, flagged = mad_outliers(norms, threshold=self.anomaly_threshold)
        return ModelScan(
            statistic="L1 norm of the reversed trigger's mask",
            values=norms,
            anomaly_index=index,
            flagged=flagged,
            details={"success": rates, "reached": reached},
            triggers=(mask * pattern).cpu(),
            masks=mask.cpu(),
        )

    def _search(
        self,
        model: nn.Module,
        x: torch.Tensor,
        targets: torch.Tensor,
        g: torch.Generator,
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:
        """The masks, patterns and successes of one chunk of classes, optimized together."""
        state = _Search(self, targets, tuple(x.shape[1:]), g, device)
        per_pass = max(1, math.ceil(len(x) / self.batch_size))
        for _ in range(math.ceil(self.steps / per_pass)):
            order = torch.randperm(len(x), generator=g)
            success, norm = state.one_pass(model, x, order, per_pass)
            if state.settle(success, norm):
                break
        return state.result()


def _checked(x: torch.Tensor) -> torch.Tensor:
    """Clean images as a model takes them: ``(N, C, H, W)`` floats in ``[0, 1]``, at least one."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError("neural_cleanse stamps images: it needs inputs (N, C, H, W)")
    if len(x) == 0:
        raise ValueError("neural_cleanse needs clean images to stamp, and got none")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1 or not x.is_floating_point():
        raise ValueError(
            f"neural_cleanse stamps images in [0, 1] (model inputs), got {x.dtype} values in "
            f"{low:g}..{high:g}"
        )
    return x


class _Search:
    """The optimization state of all classes: masks, patterns, weights and the best found."""

    def __init__(
        self, nc: NeuralCleanse, targets: torch.Tensor, shape: tuple[int, ...], g: torch.Generator,
        device: torch.device,
    ) -> None:  # fmt: skip
        c, h, w = shape
        k = len(targets)
        self.nc, self.k, self.device, self.targets = nc, k, device, targets.to(device)
        init = torch.rand(k, 1, h, w, generator=g), torch.rand(k, c, h, w, generator=g)
        self.mask_raw, self.pattern_raw = (
            torch.atanh((t - 0.5) * 1.99).to(device).requires_grad_() for t in init
        )
        self.optimizer = torch.optim.Adam([self.mask_raw, self.pattern_raw], lr=nc.lr, betas=(0.5, 0.9))
        self.cost = torch.full((k,), nc.init_cost, device=device)
        self.best_norm = torch.full((k,), math.inf)
        self.best_mask = torch.zeros(k, 1, h, w)
        self.best_pattern = torch.zeros(k, c, h, w)
        self.up = torch.zeros(k, dtype=torch.long)
        self.down = torch.zeros(k, dtype=torch.long)
        self.went_up = torch.zeros(k, dtype=torch.bool)
        self.went_down = torch.zeros(k, dtype=torch.bool)
        self.stale = torch.zeros(k, dtype=torch.long)
        self.stale_best = torch.full((k,), math.inf)

    def stamped(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tanh(self.mask_raw) / 2 + 0.5, torch.tanh(self.pattern_raw) / 2 + 0.5

    def one_pass(
        self, model: nn.Module, x: torch.Tensor, order: torch.Tensor, steps: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass over ``x`` in ``steps`` batches: every class's success and mask norm, averaged."""
        success, norm = torch.zeros(self.k), torch.zeros(self.k)
        target = self.targets
        for step in range(steps):
            batch = x[order[step * self.nc.batch_size : (step + 1) * self.nc.batch_size]].to(self.device)
            mask, pattern = self.stamped()
            n = len(batch)
            inputs = (1 - mask[:, None]) * batch[None] + (mask * pattern)[:, None]  # (K, n, C, H, W)
            logits = model(inputs.flatten(0, 1))
            wanted = target.repeat_interleave(n)
            ce = nn.functional.cross_entropy(logits, wanted, reduction="none").view(self.k, n).mean(1)
            l1 = mask.flatten(1).sum(1)
            self.optimizer.zero_grad(set_to_none=True)
            (ce + self.cost * l1).sum().backward()
            self.optimizer.step()
            hits = (logits.argmax(1) == wanted).view(self.k, n).float().mean(1)
            success += hits.detach().cpu() / steps
            norm += l1.detach().cpu() / steps
        return success, norm

    def settle(self, success: torch.Tensor, norm: torch.Tensor) -> bool:
        """Keep the better masks, adapt each class's weight; ``True`` when every class has
        stopped improving (its weight went both up and down, and its best norm has not
        improved by 1% for ``5 * patience`` passes, the paper's code's early stop)."""
        nc = self.nc
        ok = success >= nc.success_threshold
        better = ok & (norm < self.best_norm)
        if better.any():
            mask, pattern = (t.detach().cpu() for t in self.stamped())
            self.best_norm[better] = norm[better]
            self.best_mask[better], self.best_pattern[better] = mask[better], pattern[better]
        self.up = torch.where(ok, self.up + 1, 0)
        self.down = torch.where(ok, 0, self.down + 1)
        raise_, lower = self.up >= nc.patience, self.down >= nc.patience
        factor = torch.where(raise_, nc.cost_multiplier, torch.where(lower, nc.cost_multiplier**-1.5, 1.0))
        self.cost *= factor.to(self.cost.device)
        self.went_up |= raise_
        self.went_down |= lower
        self.up[raise_], self.down[lower] = 0, 0
        found = self.best_norm < math.inf
        improved = self.best_norm < 0.99 * self.stale_best
        self.stale = torch.where(found & ~improved, self.stale + 1, 0)
        self.stale_best = torch.minimum(self.stale_best, self.best_norm)
        return bool((self.went_up & self.went_down & (self.stale >= 5 * nc.patience)).all())

    def result(self) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:
        """Per class the best mask and pattern found, or the last ones where none reached
        the threshold; and which reached it."""
        reached = self.best_norm < math.inf
        mask, pattern = (t.detach().cpu() for t in self.stamped())
        mask[reached], pattern[reached] = self.best_mask[reached], self.best_pattern[reached]
        return mask, pattern, reached.tolist()


def _success(
    model: nn.Module,
    x: torch.Tensor,
    mask: torch.Tensor,
    pattern: torch.Tensor,
    device: torch.device,
    batch: int,
) -> list[float]:
    """Per class, the share of ``x`` that the class's stamp sends to it (``batch`` images of
    sixteen classes at a time)."""
    hits = torch.zeros(len(mask))
    with torch.inference_mode():
        for first in range(0, len(mask), 16):
            classes = torch.arange(first, min(len(mask), first + 16))
            m, p = mask[classes].to(device), pattern[classes].to(device)
            for start in range(0, len(x), batch):
                xb = x[start : start + batch].to(device)
                stamped = (1 - m[:, None]) * xb[None] + (m * p)[:, None]
                pred = model(stamped.flatten(0, 1)).argmax(1).view(len(classes), len(xb)).cpu()
                hits[classes] += (pred == classes[:, None]).float().sum(1)
    return (hits / len(x)).tolist()


__all__ = ["NeuralCleanse"]
