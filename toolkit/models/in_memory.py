"""A model object of this Python process, for :func:`toolkit.run` (``model=net``).

``toolkit.run(recipe, model=net, head="fc")`` puts ``net`` (any ``nn.Module``) in this
module's table under a digest of its class and weights, and the recipe's ``[model]``
becomes ``{name = "python", key = <digest>, ...}``: the recipe still names a registered
component, and a recipe file cannot reach an object (a key that is not in this process's
table is an error). The digest enters the fingerprints like a model file's, so another
object, or the same one with other weights, is never mistaken for a cached model.

A toolkit classifier (``forward_features`` and ``head``) is used as it is; any other
module goes behind the same wrapper as a model file (:func:`toolkit.models.exported.wrap`:
``mean``, ``std``, ``class_names``, ``head``). The run works on a copy, so the caller's
object is not moved to another device or put in eval mode.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import UsageError

__all__ = ["build", "hold"]

_OBJECTS: dict[str, nn.Module] = {}


def hold(model: nn.Module) -> str:
    """Keep ``model`` for a run in this process; returns its key (a digest of its class and
    of every tensor of its ``state_dict``)."""
    if not isinstance(model, nn.Module):
        raise UsageError(f"model= takes a torch.nn.Module, not {type(model).__name__}")
    from toolkit.data.digest import tensor_update

    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, tensor in model.state_dict().items():
        tensor_update(digest, name, tensor)
    key = digest.hexdigest()
    _OBJECTS[key] = model
    return key


def build(
    info: DataInfo,
    *,
    key: str,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
    head: str | None = None,
    input_size: list[int] | None = None,
) -> nn.Module:
    """A copy of the object held under ``key``, ready for the data described by ``info``.

    Args:
        info: the data's description.
        key: what :func:`hold` returned.
        mean: see :func:`toolkit.models.exported.build`.
        std: see :func:`toolkit.models.exported.build`.
        class_names: see :func:`toolkit.models.exported.build`.
        head: see :func:`toolkit.models.exported.build`.
        input_size: see :func:`toolkit.models.exported.build`.
    """
    from toolkit.models.exported import wrap

    if key not in _OBJECTS:
        raise UsageError(
            "model python: no model object is held under this key in this process; an nn.Module "
            "comes only through toolkit.run(recipe, model=...). In a recipe file, save the model "
            "(torch.export) and use model torchscript"
        )
    model = copy.deepcopy(_OBJECTS[key])
    toolkit_classifier = hasattr(model, "forward_features") and isinstance(
        getattr(model, "head", None), nn.Module
    )
    declared = (mean, std, head, class_names, input_size)
    if toolkit_classifier and all(v is None for v in declared):
        return model
    return wrap(model, info, what=f"the model object ({type(model).__name__})", mean=mean, std=std,
                class_names=class_names, head=head, input_size=input_size)  # fmt: skip


def files_key(params: Mapping[str, Any]) -> dict[str, str]:
    """The object's digest: enters the fingerprints."""
    return {"object": str(params.get("key"))}


def given(params: Mapping[str, Any]) -> bool:
    """An object is trained already: a recipe without ``[train]`` evaluates it as given."""
    return True


build.files_key = files_key  # type: ignore[attr-defined]
build.given = given  # type: ignore[attr-defined]
