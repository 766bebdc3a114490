"""Which layer: named layers of a model, the penultimate features, the last feature map.

One vocabulary for every component that reads a model's inside (detectors, poison filters,
explainers):

- ``"penultimate"`` (also ``"features"``): the penultimate features, the input of the
  classification head. A toolkit :class:`~toolkit.models.base.Classifier` gives them with
  ``forward_features``; any other module declares the name of its head as the attribute
  ``penultimate`` (e.g. ``model.penultimate = "fc"`` for a torchvision ResNet) and the
  features are that module's input.
- ``"logits"``: the model's outputs.
- any other name: the output of the module of that dotted name (``"backbone"``,
  ``"backbone.3"``, ``"layer4.1.conv2"``), as ``model.named_modules()`` lists it.

Activations of every layer asked for are captured with forward hooks in the one pass that
computes the logits (:class:`toolkit.outputs.Outputs`).

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> missing_layers(net, ["0", "2", "logits", "3"])
    ['3']
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import torch
from torch import nn

from toolkit.errors import UsageError

#: Layer names that are not module names.
PENULTIMATE = ("penultimate", "features")
LOGITS = "logits"


def is_special(name: str) -> bool:
    """Whether ``name`` is ``penultimate``/``features`` or ``logits`` (not a module name)."""
    return name in PENULTIMATE or name == LOGITS


def head_name(model: nn.Module) -> str | None:
    """The module whose input is the penultimate features: ``head`` for a toolkit classifier,
    else the model's declared ``penultimate`` attribute (``None`` when it declares none)."""
    if hasattr(model, "forward_features") and isinstance(getattr(model, "head", None), nn.Module):
        return "head"
    declared = getattr(model, "penultimate", None)
    return declared if isinstance(declared, str) else None


def missing_layers(model: nn.Module, names: Iterable[str]) -> list[str]:
    """The names among ``names`` that ``model`` cannot give (no such module, or the
    penultimate features of a model that declares no head)."""
    modules = dict(model.named_modules())
    out = []
    for name in names:
        if name == LOGITS:
            continue
        if name in PENULTIMATE:
            head = head_name(model)
            if head is None or head not in modules:
                out.append(name)
        elif name not in modules:
            out.append(name)
    return out


def module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``, or a usage error listing close matches."""
    modules = dict(model.named_modules())
    if name not in modules:
        raise UsageError(unknown_layer(model, name))
    return modules[name]


def unknown_layer(model: nn.Module, name: str, *, who: str = "") -> str:
    """The message for a layer ``model`` does not have: close matches and how to list them."""
    if name in PENULTIMATE:
        return (
            f"{who}{type(model).__name__} has no penultimate features: give it forward_features() and "
            "head (toolkit.models.base.Classifier), or set its attribute penultimate to the name of "
            "its classification head (e.g. model.penultimate = 'fc')"
        )
    names = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{who}{type(model).__name__} has no layer '{name}'{hint} (its layers: {shown})"


def _conv_like(module: nn.Module) -> bool:
    """A module holding a 4-D ``weight`` of its own: a 2-D convolution, also inside an
    exported program (whose layers are not ``nn.Conv2d`` objects any more)."""
    weight = module._parameters.get("weight") if hasattr(module, "_parameters") else None
    return isinstance(weight, torch.Tensor) and weight.ndim == 4


def last_conv(model: nn.Module, inputs: torch.Tensor | None = None) -> str:
    """The layer whose output is the last spatial feature map (Grad-CAM's layer).

    For a model with a sequential ``backbone`` (every toolkit model) that is the last child
    of the backbone whose output is a feature map larger than 1x1 (the final block's output
    after its batch norm and residual addition, before global pooling); otherwise the last
    ``Conv2d`` (or module with a 4-D weight: a convolution in an exported program).
    """
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, nn.Sequential) and inputs is not None:
        shapes: dict[str, tuple[int, ...]] = {}
        hooks = [
            child.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
            for name, child in backbone.named_children()
        ]
        try:
            with torch.no_grad():
                model(inputs[:1])
        finally:
            for hook in hooks:
                hook.remove()
        maps = [name for name, shape in shapes.items() if len(shape) == 4]
        spatial = [name for name in maps if shapes[name][-1] * shapes[name][-2] > 1]  # not the pooled 1x1
        if spatial or maps:
            return f"backbone.{(spatial or maps)[-1]}"
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) or _conv_like(m)]
    if not names:
        raise UsageError("this explainer needs a convolutional model (no Conv2d layer found)")
    return names[-1]
