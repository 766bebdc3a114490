"""Helpers that use a model and leave it exactly as they found it.

``eval_mode`` puts a model in eval mode and restores its train/eval mode afterwards;
``frozen`` does that and also excludes the parameters from autograd and restores their
gradients and the batch-norm buffers. Attacks, explainers and detectors run under one of
them, so a component never changes the model it is handed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode; its train/eval mode is restored afterwards.

    Example:
        >>> model = torch.nn.Dropout().train()
        >>> with eval_mode(model):
        ...     model.training
        False
        >>> model.training
        True
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextmanager
def frozen(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """The model in eval mode (by default) with its parameters excluded from autograd.

    Batch-norm statistics are never updated, no gradient reaches the weights, and the
    model's train/eval mode, ``requires_grad`` flags and ``.grad`` are restored afterwards.
    """
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    grads = [p.grad for p in model.parameters()]
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    if eval_mode:
        model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        with torch.no_grad():  # in train mode batch norm updated its statistics: put them back
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])
        for p, flag, grad in zip(model.parameters(), flags, grads, strict=True):
            p.requires_grad_(flag)
            p.grad = grad
        model.train(was_training)


def device_of(model: nn.Module) -> torch.device:
    """Where the model's first parameter or buffer lives (the CPU for a model with neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
