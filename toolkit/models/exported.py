"""A whole model from a file, trained anywhere: a ``torch.export`` program or a TorchScript file.

``model = {name = "torchscript", path = "model.pt2"}`` loads

- a ``torch.export`` program (``torch.export.save``; ``.pt2``, the format torch recommends):
  read with ``torch.export.load`` and unflattened (``torch.export.unflatten``) so its layers
  keep their names, and detectors, filters and explainers can read any of them;
- a TorchScript file (``torch.jit.save``; ``.pt``): read with ``torch.jit.load``. TorchScript
  modules take no forward hooks, so only the logits (and input gradients) are available:
  components that read a named layer or the penultimate features refuse it, by name,
  before the run starts.

The two are told apart by the archive's content, not its name. A file is evaluated as
given (no ``[train]`` table: no training stage) and its SHA-256 enters the fingerprints.

What the toolkit cannot read from a program, the recipe declares:

- ``mean``/``std``: the normalization the model expects. The toolkit gives every model
  pixels in ``[0, 1]`` (attacks and explainers work in that space), and the wrapper
  normalizes before the program; leave both out for a program that normalizes itself.
- ``class_names``: the classes in the model's output order, checked against the data's
  (with the number of outputs, on the first batch).
- ``head``: the module whose *input* is the penultimate feature vector (``"fc"`` for a
  torchvision ResNet, ``"4"`` for a ``Sequential``), for feature-based detectors.

An exported program fixes its batch size unless it was exported with a dynamic batch
dimension; the wrapper then feeds it batches of exactly that size (the last one padded and
cut). Export in eval mode: a program keeps the mode it was traced in.

Loading runs no pickled Python code of the file's making: ``torch.export.load`` reads a
graph of tensor operations and its weights, ``torch.jit.load`` TorchScript, which can run
the tensor operations it holds and nothing of Python (``docs/reliability.md``).
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import DataError, UsageError
from toolkit.models.base import normalizer

__all__ = ["Given", "build", "file_format", "wrap"]


def file_format(path: Path) -> Literal["export", "torchscript"]:
    """``export`` or ``torchscript``, from the archive's members (a DataError otherwise)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(
            f"model.path: {path} is neither a torch.export program (.pt2) nor a TorchScript file (.pt): "
            f"not a readable archive ({exc})"
        ) from exc
    if any(n.endswith("/archive_format") or n.endswith("/models/model.json") for n in names):
        return "export"
    if any("/code/__torch__/" in n or n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    raise DataError(
        f"model.path: {path} is a zip archive, but neither a torch.export program nor a TorchScript file "
        "(a state_dict saved with torch.save goes in the weights parameter of a built-in architecture)"
    )


class Given(nn.Module):
    """A loaded program behind the toolkit's input convention: ``program(normalize(x))``.

    Args:
        program: the loaded module.
        normalize: the normalization before it (``None``: the program normalizes itself).
        batch: the batch size an exported program was fixed to (``None``: any).
        head: the program's module whose input is the penultimate features.
        classes: the number of outputs the recipe expects.
    """

    def __init__(
        self, program: nn.Module, normalize: nn.Module | None, *, batch: int | None, head: str | None,
        classes: int,
    ) -> None:  # fmt: skip
        super().__init__()
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.program = program
        self.batch = batch
        self.classes = classes
        if head is not None:
            self.penultimate = f"program.{head}"  # read by toolkit.models.layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        if self.batch is None or len(x) == self.batch:
            out = self.program(x)
        else:
            parts = []
            for start in range(0, len(x), self.batch):
                chunk = x[start : start + self.batch]
                short = self.batch - len(chunk)
                if short:  # pad with copies of the last row, then drop their outputs
                    chunk = torch.cat([chunk, chunk[-1:].expand(short, *chunk.shape[1:])])
                parts.append(self.program(chunk)[: self.batch - short])
            out = torch.cat(parts)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != self.classes:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise DataError(
                f"model torchscript: the program returns {shape}, not logits of shape "
                f"(batch, {self.classes}) "
                "for the data's classes"
            )
        return out


def build(
    info: DataInfo,
    *,
    path: str,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
    head: str | None = None,
    input_size: list[int] | None = None,
) -> Given:
    """Load the program at ``path`` for the data described by ``info``.

    Args:
        info: the data's description.
        path: a ``torch.export`` program (``.pt2``) or a TorchScript file (``.pt``).
        mean: the per-channel (per-feature) mean the model expects its inputs normalized
            with; with ``std``. Left out, inputs reach the program as the toolkit holds
            them (images in ``[0, 1]``).
        std: the standard deviations, with ``mean``.
        class_names: the classes in the model's output order; must equal the data's.
        head: the module whose input is the penultimate features (for feature detectors).
        input_size: the shape of one input the model was trained on (``[C, H, W]`` or
            ``[D]``); checked against the data's.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"model.path: {file} is not a file")
    kind = file_format(file)
    program, batch = _export(file) if kind == "export" else (_torchscript(file), None)
    return wrap(program, info, what=file.name, batch=batch, mean=mean, std=std, class_names=class_names,
                head=head, hooks=kind == "export", input_size=input_size)  # fmt: skip


def wrap(
    program: nn.Module,
    info: DataInfo,
    *,
    what: str,
    batch: int | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
    class_names: list[str] | None = None,
    head: str | None = None,
    hooks: bool = True,
    input_size: list[int] | None = None,
) -> Given:
    """``program`` behind the toolkit's input convention, its declarations checked, tried on
    one probe batch of the data's shape.

    Args:
        program: the model.
        info: the data's description.
        what: how messages name the model (its file).
        batch: the batch size the program was fixed to (``None``: any).
        mean: see :func:`build`.
        std: see :func:`build`.
        class_names: see :func:`build`.
        head: see :func:`build`.
        hooks: whether the program's layers take forward hooks (TorchScript's do not).
        input_size: see :func:`build`.

    Raises:
        DataError: other classes, another number of outputs, or inputs of another shape.
        UsageError: a ``head`` the program has not, or cannot hook.
    """
    from toolkit.models.weights import check_classes

    check_classes(class_names, info)
    named = isinstance(info.input_shape, dict)  # token ids and masks: no one-tensor probe
    if input_size is not None and named:
        raise UsageError(f"model.input_size: the data's inputs are named parts (token ids), not one tensor; "
                         f"leave input_size out for {what}")  # fmt: skip
    if input_size is not None and tuple(input_size) != tuple(info.tensor_shape):
        raise DataError(
            f"model.input_size: {what} takes inputs of shape {tuple(input_size)}, the data's are "
            f"{tuple(info.tensor_shape)}; resize the data (dataset size) to what the model was trained on"
        )
    if head is not None:
        modules = dict(program.named_modules())
        if head not in modules or not hooks:
            why = "TorchScript modules take no hooks" if not hooks else "no such module"
            shown = ", ".join(n for n in list(modules)[1:12] if n)
            raise UsageError(f"model.head: '{head}' cannot be read in {what} ({why}; its modules: {shown})")
    model = Given(program, normalizer(info, mean, std) if mean is not None or std is not None else None,
                  batch=batch, head=head, classes=info.num_classes)  # fmt: skip
    if not named:
        _probe(model, info, what)
    return model


def _probe(model: nn.Module, info: DataInfo, what: str) -> None:
    """One probe batch of zeros: a program for another input shape or class count fails here,
    with a message naming the data's shape."""
    with torch.no_grad():
        try:
            model.eval()(torch.zeros(1, *info.tensor_shape))
        except DataError:
            raise
        except Exception as exc:  # the program's own error on an input of the data's shape
            raise DataError(
                f"model.path: {what} does not take inputs of the data's shape "
                f"{tuple(info.tensor_shape)} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc


def _export(file: Path) -> tuple[nn.Module, int | None]:
    """The unflattened program and the batch size it was fixed to (``None``: dynamic)."""
    try:
        program = torch.export.load(str(file))
    except Exception as exc:  # a truncated or foreign archive: torch raises many kinds
        raise DataError(
            f"model.path: {file} is not a readable torch.export program ({type(exc).__name__}: {exc})"
        ) from exc
    inputs = [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    if len(inputs) != 1:
        raise DataError(f"model.path: {file} takes {len(inputs)} inputs; the toolkit gives a model one batch")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == inputs[0])
    size = node.meta["val"].shape[0] if "val" in node.meta else None
    batch = size if isinstance(size, int) else None
    try:
        return torch.export.unflatten(program), batch
    except Exception:  # a program unflatten cannot rebuild: its flat module (no named layers)
        return program.module(), batch


def _torchscript(file: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in newer torch; said in the docs
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(file), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError and others for a damaged file
        raise DataError(
            f"model.path: {file} is not a readable TorchScript file ({type(exc).__name__}: {exc})"
        ) from exc


def files_key(params: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of the program file: enters the fingerprints, so another file is never
    mistaken for a cached one."""
    from toolkit.data.filedigest import digests

    file = Path(str(params.get("path", ""))).expanduser()
    if not file.is_file():
        raise DataError(f"model.path: {file} is not a file")
    return {"program": digests([file], what="model file")[0]}


def given(params: Mapping[str, Any]) -> bool:
    """A program is trained already: a recipe without ``[train]`` evaluates it as given."""
    return True


build.files_key = files_key  # type: ignore[attr-defined]
build.given = given  # type: ignore[attr-defined]
