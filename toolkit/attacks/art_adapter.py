"""Any evasion attack of IBM's Adversarial Robustness Toolbox (ART), by class name.

Nicolae et al., "Adversarial Robustness Toolbox v1.0.0", arXiv:1807.01069, 2018.

The model is wrapped in ART's ``PyTorchClassifier`` (cross-entropy loss, clip values from
the data's input domain: ``(0, 1)`` for images, per-feature bounds for tabular data, none
when unbounded; no extra preprocessing: our models normalize inside), the attack is built as
``art.attacks.evasion.<attack>(estimator, **params)`` and ``generate`` is called on the
inputs as a NumPy array. Numeric strings such as ``"8/255"`` are accepted in ``params``.
Install with ``pip install 'trustworthy-ml-toolkit[attacks]'``.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from toolkit.adapters import class_by_name
from toolkit.attacks.base import LibraryAttack
from toolkit.data.domain import Domain
from toolkit.errors import UsageError
from toolkit.modelstate import frozen


def attack_class(name: str) -> Any:
    """ART's evasion attack class ``name``; an unknown name lists the available ones."""
    return class_by_name(
        "art.attacks.evasion",
        name,
        what="ART has no evasion attack",
        install=(
            "attack art needs adversarial-robustness-toolbox: pip install 'trustworthy-ml-toolkit[attacks]'"
        ),
    )


def art_classifier(model: nn.Module, x: torch.Tensor, num_classes: int, domain: Domain | None = None) -> Any:
    """The model as ART's ``PyTorchClassifier`` on inputs in ``domain`` (default ``[0, 1]``)."""
    from art.estimators.classification import PyTorchClassifier

    device = next(model.parameters()).device
    shape = tuple(x.shape[1:])
    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=shape,
        nb_classes=num_classes,
        clip_values=(domain or Domain.unit()).clip_values(shape),
        device_type="gpu" if device.type == "cuda" else "cpu",
    )


class ART(LibraryAttack):
    """Adapter for an ART evasion attack.

    Args:
        attack: the class name in ``art.attacks.evasion`` (e.g. ``"FastGradientMethod"``,
            ``"ProjectedGradientDescent"``).
        params: its keyword arguments (e.g. ``{eps = "8/255", eps_step = "2/255", max_iter = 10}``).
        seed: seeds NumPy and torch before the call (ART's random starts use NumPy).
    """

    example_params: ClassVar[dict[str, Any]] = {"attack": "FastGradientMethod", "params": {"eps": 0.03}}
    library = "ART"

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Adversarial examples from ART, as a tensor on ``x``'s device."""
        cls = attack_class(self.attack)
        numpy_state = np.random.get_state()
        devices = [x.device.index] if x.device.type == "cuda" else []
        # ART computes weight gradients it never uses and draws from the global generators:
        # frozen() keeps the weights, their gradients and the mode; fork_rng the caller's state
        with frozen(model), torch.random.fork_rng(devices=devices):
            try:
                with torch.no_grad():
                    num_classes = int(model(x[:1]).shape[1])
                classifier = art_classifier(model, x, num_classes, self.domain)
                wanted = inspect.signature(cls).parameters
                params = {"verbose": False, **self.params} if "verbose" in wanted else self.params
                try:
                    instance = cls(classifier, **params)
                except (TypeError, ValueError) as exc:
                    raise UsageError(f"attacks: ART's {self.attack} rejected its parameters: {exc}") from exc
                np.random.seed(self.seed)
                torch.manual_seed(self.seed)
                adv = instance.generate(
                    x.detach().cpu().numpy().astype(np.float32), y=y.detach().cpu().numpy()
                )
            finally:
                np.random.set_state(numpy_state)
        return torch.as_tensor(adv, dtype=x.dtype, device=x.device)
