"""A split's inputs with the model's logits, features and named layers, each computed once.

Every detector and metric of a run reads the same :class:`Outputs`, so a split passes
through the model once however many detectors score it. The activations of any named layer
(:mod:`toolkit.models.layers`) asked for before that pass are captured in it with forward
hooks. :func:`predict` and :func:`probabilities` are the one way to get a model's classes
and class probabilities for stored inputs.

Example (a plugin's unit test builds its own):
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> out = Outputs(net, torch.randn(10, 4), y=torch.zeros(10, dtype=torch.long), layers=["1"])
    >>> out.logits.shape, out.layer("1").shape, out.passes
    (torch.Size([10, 3]), torch.Size([10, 8]), 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from toolkit.data.inputs import Inputs, batches, num_samples, to_device, to_model_input
from toolkit.errors import UsageError
from toolkit.models.layers import LOGITS, PENULTIMATE, head_name, is_special, module, unknown_layer
from toolkit.modelstate import eval_mode


class Outputs:
    """Inputs ``x`` of one split and, computed on first use in one pass, logits, penultimate
    features and the activations of the named layers asked for.

    Args:
        model: the classifier. Its penultimate features are the input of its head: a toolkit
            :class:`~toolkit.models.base.Classifier` (``forward_features`` and ``head``), or
            any module with the attribute ``penultimate`` naming its head.
        x: the split's inputs as stored (``uint8`` images, float features or a mapping of
            named tensors).
        y: the split's labels, for detectors that fit per-class statistics (or ``None``).
        device: where to run the model.
        batch_size: samples per inference pass.
        layers: names of layers whose activations the pass should keep
            (:mod:`toolkit.models.layers`); more may be asked for with :meth:`want` before
            the pass.
    """

    def __init__(
        self,
        model: nn.Module,
        x: Inputs,
        *,
        y: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 1024,
        layers: Iterable[str] = (),
    ) -> None:
        self.model = model
        self.x = x
        self.y = y
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._wanted = {n for n in layers if not is_special(n)}
        self._logits: torch.Tensor | None = None
        self._features: torch.Tensor | None = None
        self._layers: dict[str, torch.Tensor] = {}
        #: Forward passes over the split so far (one, unless a layer was asked for after it).
        self.passes = 0

    def __len__(self) -> int:
        return num_samples(self.x)

    def inputs(self) -> Inputs:
        """The inputs as the model takes them (images as floats in ``[0, 1]``)."""
        return to_model_input(self.x)

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[int, Inputs]]:
        """``(start, batch)`` of model inputs on the device (``batch_size`` samples each,
        default the outputs' own)."""
        for start, xb in batches(self.x, batch_size or self.batch_size):
            yield start, to_model_input(to_device(xb, self.device))

    def want(self, *names: str) -> Outputs:
        """Keep the activations of these layers too (free before the first pass)."""
        self._wanted.update(n for n in names if not is_special(n))
        return self

    def _pass(self, names: list[str]) -> None:
        """One forward pass: logits, features where the model has them, and ``names``."""
        model = self.model
        head = head_name(model)
        hooks: list[Any] = []
        kept: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        feats: list[torch.Tensor] = []
        for name in names:
            hooks.append(module(model, name).register_forward_hook(_keep(kept[name])))
        if head is not None and head != "head":  # a declared head: its input is the features
            hooks.append(module(model, head).register_forward_pre_hook(_keep_input(feats)))
        classifier = head == "head"
        logits = []
        try:
            with eval_mode(model), torch.inference_mode():
                for _, xb in self.batches():
                    if classifier:
                        f = model.forward_features(xb)  # type: ignore[operator]
                        feats.append(f.detach().float().cpu())
                        logits.append(model.head(f).detach().float().cpu())  # type: ignore[operator]
                    else:  # detached: a view of a parameter (a constant model) keeps requires_grad
                        logits.append(model(xb).detach().float().cpu())
        finally:
            for hook in hooks:
                hook.remove()
        self.passes += 1
        if self._logits is None:
            self._logits = torch.cat(logits)
            self._features = torch.cat(feats) if feats else None
        self._layers.update({n: torch.cat(parts) for n, parts in kept.items()})

    def _ensure(self) -> None:
        if self._logits is None:
            self._pass(sorted(self._wanted))

    @property
    def logits(self) -> torch.Tensor:
        """Logits, ``(N, num_classes)``, on the CPU."""
        self._ensure()
        assert self._logits is not None
        return self._logits

    @property
    def features(self) -> torch.Tensor:
        """Penultimate features (the input of the model's head), ``(N, F)``, on the CPU."""
        self._ensure()
        if self._features is None:
            raise UsageError(unknown_layer(self.model, "penultimate"))
        return self._features

    def layer(self, name: str) -> torch.Tensor:
        """The activations of the layer ``name`` (:mod:`toolkit.models.layers`), on the CPU.

        A layer not asked for before the first pass costs one more pass.
        """
        if name in PENULTIMATE:
            return self.features
        if name == LOGITS:
            return self.logits
        module(self.model, name)  # a name the model lacks fails before any pass
        self._ensure()
        if name not in self._layers:
            self._pass([name])
        return self._layers[name]

    def labels(self) -> torch.Tensor:
        """The labels, or a clear error for a split that has none."""
        if self.y is None:
            raise ValueError("this detector needs the labels of the split it is fitted on")
        return self.y

    @property
    def predictions(self) -> torch.Tensor:
        """Predicted classes, ``(N,)``."""
        return self.logits.argmax(dim=1)

    @property
    def probabilities(self) -> torch.Tensor:
        """Class probabilities (softmax of the logits), ``(N, num_classes)``."""
        return torch.softmax(self.logits, dim=1)


def _keep(parts: list[torch.Tensor]) -> Any:
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output
        parts.append(out.detach().float().cpu())

    return hook


def _keep_input(parts: list[torch.Tensor]) -> Any:
    def hook(_module: nn.Module, inputs: Any) -> None:
        parts.append(inputs[0].detach().float().cpu().flatten(1))

    return hook


def predict(
    model: nn.Module, x: Inputs, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> torch.Tensor:
    """The predicted classes of ``model`` for the stored inputs ``x`` (on the CPU; usable as
    an explainer's targets)."""
    return Outputs(model, x, device=device, batch_size=batch_size).predictions


def probabilities(
    model: nn.Module, x: Inputs, *, device: torch.device | str = "cpu", batch_size: int = 1024
) -> torch.Tensor:
    """The class probabilities of ``model`` for the stored inputs ``x``, ``(N, K)`` on the CPU."""
    return Outputs(model, x, device=device, batch_size=batch_size).probabilities
