"""Conformance checks that every component of a kind must pass, built-in or plugin.

Each ``check_*`` function raises :class:`AssertionError` with a readable message on the
first violation (the message starts with the component's name). The toolkit's own test
suite runs them over every registered component of every kind (plugins included); a
plugin's tests call them on its own components::

    from toolkit.testing import check_component, check_detector
    from my_plugin.detector import MyDetector

    def test_conformance():
        check_detector(MyDetector, params={"k": 5})
        check_component("attacks", "my_attack")  # by registered name, with example_params

There is one check per kind, named by the table of kinds (``KINDS[kind].check``, see
:mod:`toolkit.kinds`); :data:`CHECKS` maps each kind to it. The checks build small
synthetic data and models themselves (a few seconds each). A component that needs other
data (token sequences, a dataset with sensitive attributes) names it as ``example_data``:
a class attribute (for a function, an attribute set after its definition) holding either
a recipe table of a registered dataset (``{"name": "my_dataset", "n": 100}``, loaded with
seed 0) or a function returning a :class:`~toolkit.data.base.DataBundle`; ``check_*(...,
data=bundle)`` does the same by hand. A component with required parameters names an
example set of them as ``example_params``. A component that declares ``modalities`` with
``"text"`` (a model, an explainer, a defense) is checked on the tiny offline text data of
:mod:`toolkit.testing.text` (a tiny BERT and CoLA-style sentences, built once per process
in a temporary folder), a model with a ``checkpoint`` parameter on that data's checkpoint.

What is checked:

- datasets: splits of matching length (each part of a multi-tensor input too), ``uint8``
  ``(N, C, H, W)`` images or ``float32`` ``(N, D)`` features, ``int64`` labels in
  ``0..K-1``, ``info`` consistent with the data (shapes, sensitive attributes, the inputs
  inside the input domain), the same data for the same seed.
- models: logits of shape ``(N, num_classes)``, ``head(forward_features(x))`` equal to the
  logits if both are exposed, the same weights for the same seed, the input left unchanged.
- attacks, evasion: adversarial examples of the input's shape and dtype, finite, inside
  the data's input domain (``[0, 1]`` images and per-feature bounds of tabular data), the
  same for the same parameters, ``x`` itself when the budget is 0; the model's weights,
  buffers, gradients and train/eval mode and the input left as they were.
- attacks, poisoning: ``poison`` returns a new bundle (the given one unchanged), the test
  split unchanged, the same result for the same seed; ``trigger`` keeps the inputs' shape
  and dtype and leaves them unchanged.
- defenses: data (``transform(bundle)``: a new bundle, the given one and its test split
  unchanged), batch (``transform(model, x, y)``: a batch of the same shapes inside the input
  domain; the model's weights and mode left as they were), train (``train(model, data,
  seed=...)``: a history, the model changed in place only, the same result for the same seed).
- detectors: float scores of shape ``(N,)``, finite, the same for the same seed, inputs,
  logits and model parameters unchanged, the model's train/eval mode restored.
- explainers: attributions with the input's shape (or ``(N, 1, H, W)`` for images, ``(N, L)``
  for token inputs), finite,
  the same on a second call; the model and the inputs left as they were; on image data,
  and on tabular data unless the explainer declares ``modalities = ("image",)``.
- tasks: a class with ``run(ctx)``; ``uses``, ``requires`` and ``baselines`` well formed;
  constructible with its defaults (or ``params``); an optional ``check`` classmethod that
  takes a resolved recipe and returns a list of problems.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from toolkit.data.base import DataBundle
from toolkit.kinds import KINDS
from toolkit.testing._common import _about, example_data
from toolkit.testing.attacks import check_attack
from toolkit.testing.datasets import check_dataset
from toolkit.testing.defenses import check_defense
from toolkit.testing.detectors import check_detector
from toolkit.testing.explainers import check_explainer
from toolkit.testing.models import check_model
from toolkit.testing.tasks import check_task

__all__ = [
    "CHECKS",
    "check_attack",
    "check_component",
    "check_dataset",
    "check_defense",
    "check_detector",
    "check_explainer",
    "check_model",
    "check_of",
    "check_task",
    "example_data",
]


# --------------------------------------------------------------------------- dispatch


def check_of(kind: str) -> Callable[..., None]:
    """The conformance check the table of kinds names for ``kind``: a ``check_*`` function of
    this package, or a ``"module:function"`` path."""
    name = KINDS[kind].check
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        check = getattr(importlib.import_module(module), attr, None)
    else:
        check = globals().get(name)
    if not callable(check):
        raise ImportError(f"toolkit.kinds names the check '{name}' for {kind}, but there is no such function")
    return check


#: The conformance check of every built-in kind, as the table of kinds names it.
CHECKS: dict[str, Callable[..., None]] = {kind: check_of(kind) for kind in KINDS}


def check_component(
    kind: str, name: str, *, params: Mapping[str, Any] | None = None, data: DataBundle | None = None
) -> None:
    """Run the conformance check of ``kind`` on the registered component ``name``.

    Without ``params``, the component's ``example_params`` (if it declares them) are used;
    without ``data``, its ``example_data`` (if it declares one) or the check's own data.
    """
    from toolkit.registry import registry

    reg = registry(kind)
    factory = reg.load(name)
    if params is None:  # a component with required parameters names an example set of them
        params = getattr(factory, "example_params", None)
    if data is None:
        with _about(factory, KINDS[reg.kind].singular):
            data = example_data(factory)
    kwargs: dict[str, Any] = {"params": params}
    if data is not None:
        kwargs["data"] = data
    check_of(reg.kind)(factory, **kwargs)
