"""Weights from a file the user trained elsewhere, for the built-in architectures.

``weights = "path"`` on ``mlp``, ``small_cnn``, ``resnet18`` or ``timm`` loads a safetensors
file, or a PyTorch ``state_dict`` read with ``torch.load(weights_only=True)`` (no pickled
code runs: only tensors and plain containers are rebuilt), into the architecture the recipe
describes. Two layouts are read:

- the toolkit's own (keys ``normalize.*``, ``backbone.*``, ``neck.*``, ``head.*``: what a
  toolkit-trained model's ``state_dict`` holds); ``normalize.*`` may be left out, and the
  model then normalizes with the recipe's ``mean``/``std`` or the data's statistics;
- the plain architecture's (``resnet18``: torchvision's keys, ``conv1.weight`` ...
  ``fc.bias``; ``timm``: timm's own), read into the network before the toolkit wraps it.

``module.`` (DataParallel, DDP) and ``_orig_mod.`` (``torch.compile``) prefixes are removed.
A missing, unexpected or misshapen key is one :class:`~toolkit.errors.DataError` naming
the file, a few of the keys, and the likely cause (another architecture, another number of
classes). The file's SHA-256 enters the ``train`` fingerprint (:func:`files_key`), so
another file is never mistaken for a cached one.

Example:
    >>> import tempfile, torch
    >>> from safetensors.torch import save_file
    >>> path = tempfile.mktemp(suffix=".safetensors")
    >>> save_file({"head.weight": torch.zeros(2, 3)}, path)
    >>> sorted(read_state(path))
    ['head.weight']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import DataError

__all__ = [
    "TOOLKIT_PARTS",
    "apply_weights",
    "files_key",
    "given",
    "is_toolkit_layout",
    "load_state",
    "read_state",
]

#: The top-level parts of a toolkit classifier's ``state_dict``.
TOOLKIT_PARTS = ("normalize.", "backbone.", "neck.", "head.")
#: Wrappers whose prefix a saved ``state_dict`` may carry on every key.
_PREFIXES = ("module.", "_orig_mod.")
_SAFETENSORS = b"{"


def read_state(path: str | Path, *, what: str = "model.weights") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or a ``state_dict`` file, on the CPU.

    Raises:
        DataError: the file is missing, unreadable, not one of the two formats, holds
            anything but tensors, or would need to run pickled code to be read.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{what}: {file} is not a file")
    try:
        with file.open("rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise DataError(f"{what}: cannot read {file} ({exc.strerror or exc})") from exc
    if len(head) == 9 and head[8:9] == _SAFETENSORS:  # an 8-byte header length, then the JSON header
        state = _safetensors(file, what)
    else:
        state = _torch_file(file, what)
    return _unwrapped(state)


def _safetensors(file: Path, what: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(file), device="cpu"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"{what}: {file} is not a readable safetensors file ({exc})") from exc


def _torch_file(file: Path, what: str) -> dict[str, torch.Tensor]:
    import pickle
    import zipfile

    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused a global: code the file would run
        raise DataError(
            f"{what}: {file} needs to run pickled code to be read, which the toolkit never does "
            f"({str(exc).splitlines()[0]}); save the state_dict (model.state_dict()) or a safetensors file"
        ) from exc
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{what}: {file} is neither a safetensors file nor a PyTorch state_dict that can be read "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'truncated'})"
        ) from exc
    if isinstance(raw, Mapping) and "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raw = raw["state_dict"]  # a checkpoint dict of the usual training scripts
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        kind = type(raw).__name__ if not isinstance(raw, Mapping) else "a table of other things than tensors"
        raise DataError(
            f"{what}: {file} holds {kind}, not a state_dict of tensors; save model.state_dict() "
            "(or use model torchscript for a whole exported model)"
        )
    return {str(k): v for k, v in raw.items()}


def _unwrapped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without a wrapper's prefix that every key carries."""
    for prefix in _PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def is_toolkit_layout(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state`` is a toolkit classifier's (its keys start with its parts)."""
    return bool(state) and all(k.startswith(TOOLKIT_PARTS) for k in state)


def load_state(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str | Path,
    architecture: str,
    optional: tuple[str, ...] = (),
) -> None:
    """Load ``state`` into ``module``, all of it and nothing else.

    Args:
        module: the network.
        state: the tensors read from ``source``.
        source: the file, for the message.
        architecture: how the recipe names the architecture, for the message.
        optional: key prefixes ``module`` may keep its own values of (``normalize.``).

    Raises:
        DataError: keys missing, unexpected or of another shape, naming a few of each.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(optional)]
    unexpected = [k for k in state if k not in own]
    misshapen = [
        f"{k} is {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or misshapen:
        parts = []
        if misshapen:
            parts.append("of another shape: " + "; ".join(misshapen[:3]) + _more(misshapen))
        if missing:
            parts.append("missing: " + ", ".join(missing[:4]) + _more(missing, 4))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:4]) + _more(unexpected, 4))
        heads = [m for m in misshapen if m.startswith("head.")]
        cause = (
            "the file's model has another number of classes than the data"
            if heads and len(heads) == len(misshapen) and not missing and not unexpected
            else f"the file holds another architecture, or {architecture} with other parameters"
        )
        raise DataError(
            f"model.weights: {source} does not fit the {architecture} this recipe builds ({cause}); keys "
            + "; ".join(parts)
        )
    with torch.no_grad():
        for key, value in state.items():
            target = own[key]
            target.copy_(value.to(dtype=target.dtype))


M = TypeVar("M", bound=nn.Module)


def apply_weights(
    model: M,
    weights: str | None,
    *,
    architecture: str,
    plain: nn.Module | None = None,
    class_names: Sequence[str] | None = None,
    info: DataInfo | None = None,
) -> M:
    """``model`` with the weights of the file ``weights`` (none given: as it is).

    Args:
        model: the toolkit classifier the recipe built.
        weights: the file (safetensors or a ``state_dict``), or ``None``.
        architecture: the recipe's name of the architecture, for the messages.
        plain: the plain network inside ``model`` (torchvision's ResNet, timm's model),
            whose own key names a file may use instead of the toolkit's.
        class_names: the classes of the weights' outputs, in order (checked against
            ``info``'s, with or without a file).
        info: the data's description.

    Raises:
        DataError: the file cannot be read, or its keys do not fit (:func:`load_state`).
    """
    check_classes(class_names, info)
    if not weights:
        return model
    state = read_state(weights)
    if is_toolkit_layout(state):
        load_state(model, state, source=weights, architecture=architecture, optional=("normalize.",))
    elif plain is not None:
        load_state(plain, state, source=weights, architecture=f"plain {architecture}")
    else:
        shown = ", ".join(list(state)[:3]) or "none"
        raise DataError(
            f"model.weights: {weights} does not hold a toolkit {architecture} (keys {shown}; a toolkit "
            "model's keys start with normalize., backbone., neck. or head.); save the state_dict of the "
            "toolkit's model, or bring the whole model with model torchscript"
        )
    return model


def check_classes(class_names: Sequence[str] | None, info: DataInfo | None) -> None:
    """A model's declared classes must be the data's, in order.

    Raises:
        DataError: they differ (the outputs would be read as other classes).
    """
    if class_names is not None and info is not None and list(class_names) != list(info.class_names):
        raise DataError(
            f"model.class_names: the model's classes {list(class_names)} are not the data's "
            f"{list(info.class_names)} in that order; the outputs would be read as other classes"
        )


def _more(items: list[str], shown: int = 3) -> str:
    return f" and {len(items) - shown} more" if len(items) > shown else ""


def files_key(params: Mapping[str, Any]) -> dict[str, str] | None:
    """SHA-256 of the ``weights`` file (``None`` without one): enters the train fingerprint."""
    weights = params.get("weights")
    if not weights:
        return None
    from toolkit.data.filedigest import digests

    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise DataError(f"model.weights: {path} is not a file")
    return {"weights": digests([path], what="model weights file")[0]}


def given(params: Mapping[str, Any]) -> bool:
    """Whether the model is trained already (weights given): a recipe without ``[train]``
    then evaluates it as given."""
    return bool(params.get("weights"))
