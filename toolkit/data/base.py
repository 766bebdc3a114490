"""The data a dataset component returns: splits of inputs and what describes them.

Images sit in memory as ``uint8`` tensors of shape ``(N, C, H, W)``;
:func:`toolkit.data.inputs.to_model_input` turns a batch into floats in ``[0, 1]``, the
range every image model takes (models normalize inside, so attacks work in pixel space).
Tabular features are ``float32`` tensors of shape ``(N, D)``. Text and other multi-part
inputs are a mapping of named tensors (``input_ids``, ``attention_mask``). Labels are
``int64`` of shape ``(N,)``. ``DataInfo.domain`` says where valid inputs live.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from toolkit.data.domain import Domain
from toolkit.data.inputs import Inputs, sample_shape, take
from toolkit.errors import DataError

Modality = Literal["image", "tabular", "text"]


@dataclass
class Split:
    """One split: inputs, integer labels and, where relevant, sensitive-attribute columns.

    ``groups`` maps a sensitive attribute to an ``int64`` tensor aligned with ``y``: 1 for
    the privileged group, 0 for the unprivileged one (see ``DataInfo.sensitive``). ``text``
    holds the raw sentences of a text split (``x`` holds their token ids), for explainers
    that perturb words and defenses that rewrite sentences.
    """

    x: Inputs
    y: torch.Tensor
    groups: dict[str, torch.Tensor] = field(default_factory=dict)
    text: list[str] | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: Any) -> Split:
        """The samples at ``index`` (a slice, a boolean mask or integer indices)."""
        return Split(
            take(self.x, index),
            self.y[index],
            {k: v[index] for k, v in self.groups.items()},
            _texts(self.text, index),
        )


def _texts(text: list[str] | None, index: Any) -> list[str] | None:
    """The sentences at ``index`` (a slice, a boolean mask or integer indices)."""
    if text is None:
        return None
    if isinstance(index, slice):
        return text[index]
    index = torch.as_tensor(index)
    if index.dtype == torch.bool:
        index = index.nonzero().flatten()
    return [text[int(i)] for i in index.flatten()]


@dataclass
class DataInfo:
    """What a model and a task need to know about the data.

    ``input_shape`` is the shape of one sample (per part, for a mapping of tensors).
    ``domain`` is the valid input domain (default by modality: ``[0, 1]`` for images,
    unbounded for tabular data, discrete for text).
    """

    name: str
    modality: Modality
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]
    class_names: list[str]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    holdout: list[str] = field(default_factory=list)
    #: Sensitive attributes: name -> (unprivileged group, privileged group). In every split's
    #: ``groups[name]``, 1 marks the privileged group and 0 the unprivileged one.
    sensitive: dict[str, tuple[str, str]] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    domain: Domain | None = None
    #: Text data: the checkpoint (hub name or folder) whose tokenizer made the token ids,
    #: and how many ids it has (a model refuses a smaller vocabulary).
    tokenizer: str | None = None
    vocab_size: int | None = None
    #: Text data: the tokens per sentence at most (sentences a defense adds are cut there too).
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.domain is None:
            self.domain = {"image": Domain.unit(), "text": Domain.discrete()}.get(
                self.modality, Domain.unbounded()
            )

    @property
    def input_domain(self) -> Domain:
        """The valid input domain (never ``None`` after construction)."""
        assert self.domain is not None
        return self.domain

    @property
    def tensor_shape(self) -> tuple[int, ...]:
        """One sample's shape, for inputs that are one tensor (a usage error for named parts)."""
        if isinstance(self.input_shape, dict):
            from toolkit.errors import UsageError

            raise UsageError(
                f"the data '{self.name}' has named input parts ({', '.join(self.input_shape)}); "
                "this component needs inputs that are one tensor"
            )
        return tuple(self.input_shape)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class DataBundle:
    """A dataset component's result.

    ``train`` and ``test`` hold the in-distribution classes, relabelled ``0..K-1`` in the
    order of ``info.class_names``. ``ood`` holds the test samples of the held-out classes
    (their labels are their indices in the full class list, ``ood_class_names``).
    """

    train: Split
    test: Split
    info: DataInfo
    ood: Split | None = None
    ood_class_names: list[str] = field(default_factory=list)
    #: Anything else a loader reports: preprocessing statistics, group counts, sources.
    extras: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        """A split by name: ``train``, ``test`` or ``ood``."""
        value = {"train": self.train, "test": self.test, "ood": self.ood}.get(name)
        if value is None:
            raise DataError(f"the data set '{self.info.name}' has no '{name}' split")
        return value


def data_root() -> Path:
    """Where data sets live: ``$TOOLKIT_DATA``, else ``~/.cache/toolkit/data``."""
    env = os.environ.get("TOOLKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toolkit" / "data"


def resolve_classes(class_names: Sequence[str], wanted: Sequence[str | int], key: str) -> list[int]:
    """Indices of classes given by name or index; unknown ones are a :class:`DataError`."""
    out = []
    for item in wanted:
        if isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(class_names):
                raise DataError(
                    f"dataset.{key}: class index {item} is out of range (0 to {len(class_names) - 1})"
                )
            out.append(item)
        elif str(item) in class_names:
            out.append(list(class_names).index(str(item)))
        else:
            close = difflib.get_close_matches(str(item), list(class_names), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise DataError(
                f"dataset.{key}: unknown class '{item}'.{hint} Classes: {', '.join(class_names)}."
            )
    return sorted(set(out))


def per_class(y: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of at most ``n`` samples of each class of ``y``, drawn with ``seed``
    (every index when ``n`` is ``None``).

    Example:
        >>> per_class(torch.tensor([0, 0, 0, 1, 1]), 1, seed=0).tolist()
        [2, 4]
    """
    if n is None:
        return torch.arange(len(y))
    g = torch.Generator().manual_seed(seed)
    keep = [torch.empty(0, dtype=torch.long)]
    for k in torch.unique(y):
        idx = torch.nonzero(y == k).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return torch.cat(keep).sort().values


def select_classes(
    class_names: Sequence[str], classes: Sequence[str | int], holdout: Sequence[str | int]
) -> tuple[list[str], torch.Tensor, list[str]]:
    """The classes a loader keeps (``classes``, default all) and holds out, by name or index
    in the full list ``class_names``.

    Returns:
        The kept class names; a map from a label of the full list to its index among the
        kept classes (-1: left out); the held-out class names (all among the kept ones).

    Raises:
        DataError: an unknown class, or a held-out class that ``classes`` leaves out.
    """
    names = list(class_names)
    held = [names[i] for i in resolve_classes(names, holdout, "holdout")]
    kept = resolve_classes(names, classes, "classes") if classes else list(range(len(names)))
    outside = [h for h in held if names.index(h) not in kept]
    if outside:
        raise DataError(f"dataset.holdout: {outside} not among dataset.classes")
    remap = torch.full((len(names),), -1, dtype=torch.long)
    remap[kept] = torch.arange(len(kept))
    return [names[i] for i in kept], remap, held


def pick(y: torch.Tensor, remap: torch.Tensor, n: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of the kept classes (``remap`` of :func:`select_classes`), at most ``n`` per
    class (:func:`per_class`), and their labels among the kept classes; from the labels
    alone, so a loader reads (or decodes) only the rows it keeps."""
    rows = torch.nonzero(remap[y] >= 0).flatten()
    rows = rows[per_class(y[rows], n, seed)]
    return rows, remap[y[rows]]


def split_holdout(
    *,
    name: str,
    modality: Modality,
    class_names: Sequence[str],
    train: Split,
    test: Split,
    holdout: Sequence[str | int],
    domain: Domain | None = None,
) -> DataBundle:
    """Leave the ``holdout`` classes out of training; their test samples become the OOD split.

    The remaining classes are relabelled ``0..K-1`` in their original order; ``domain`` is
    the input domain (default: by modality). For images, the
    per-channel mean and standard deviation (``info.mean``, ``info.std``) are computed on
    the training images of the kept classes only, so nothing of a held-out class leaks
    into the model.
    """
    held = resolve_classes(class_names, holdout, "holdout")
    kept = [i for i in range(len(class_names)) if i not in held]
    if len(kept) < 2:
        raise DataError(f"dataset.holdout leaves {len(kept)} class(es) to train on; keep at least 2")
    remap = torch.full((len(class_names),), -1, dtype=torch.long)
    remap[kept] = torch.arange(len(kept))
    held_t = torch.tensor(held, dtype=torch.long)

    def keep(split: Split) -> Split:
        out = _rows(split, remap[split.y] >= 0)
        out.y = remap[out.y]
        return out

    ood = _rows(test, torch.isin(test.y, held_t)) if held else None
    kept_train = keep(train)
    mean = std = None
    if modality == "image" and isinstance(kept_train.x, torch.Tensor):
        mean, std = channel_stats(kept_train.x)
    info = DataInfo(
        name=name,
        modality=modality,
        input_shape=sample_shape(train.x),
        class_names=[class_names[i] for i in kept],
        mean=mean,
        std=std,
        holdout=[class_names[i] for i in held],
        domain=domain,
    )
    return DataBundle(kept_train, keep(test), info, ood, list(class_names))


def stratified_split(
    y: torch.Tensor,
    test_size: float,
    seed: int,
    *,
    names: Sequence[str] | None = None,
    source: str = "the data set",
    option: str = "dataset.test_size",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test indices with each class split in the same proportion (scikit-learn).

    Args:
        y: the labels.
        test_size: the fraction of each class in the test split.
        seed: seeds the split.
        names: the class names, for the errors (default: the label values).
        source: what the data is (a file or folder), for the errors.
        option: the recipe key that sets ``test_size``, for the errors.

    Raises:
        DataError: a class has a single sample, or a split would get fewer samples than
            there are classes (scikit-learn's conditions, said in the data's terms).
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise DataError(f"{option} must lie strictly between 0 and 1, got {test_size}")
    labels, counts = torch.unique(y, return_counts=True)
    alone = [int(label) for label, n in zip(labels, counts, strict=True) if int(n) < 2]
    if alone:
        shown = ", ".join(
            repr(names[i]) if names is not None and 0 <= i < len(names) else str(i) for i in alone[:5]
        )
        raise DataError(
            f"{source}: class {shown} has a single sample; a stratified train/test split needs at "
            "least 2 of each class: add samples of it, or remove the class"
        )
    n_test = math.ceil(test_size * len(y))
    n_train = len(y) - n_test
    if min(n_test, n_train) < len(labels):
        raise DataError(
            f"{source}: {len(y)} samples of {len(labels)} classes cannot be split as {option} asks "
            f"({test_size:.3g} of them held out): the {'test' if n_test < n_train else 'training'} split "
            "would get "
            f"{min(n_test, n_train)}, fewer than one sample per class; add samples or change {option}"
        )
    index = torch.arange(len(y)).numpy()
    try:
        train_idx, test_idx = train_test_split(
            index, test_size=test_size, random_state=seed, stratify=y.numpy()
        )
    except ValueError as exc:  # a condition of scikit-learn's not foreseen above
        raise DataError(f"{source}: cannot split the samples into train and test ({exc})") from exc
    return torch.as_tensor(train_idx), torch.as_tensor(test_idx)


def _rows(split: Split, mask: torch.Tensor) -> Split:
    """The samples where ``mask`` holds: views when they are one run of rows (no copy of
    images stored on disk), else :meth:`Split.subset`."""
    index = mask.nonzero().flatten()
    if len(index) == 0 or int(index[-1] - index[0]) + 1 != len(index):
        return split.subset(mask)
    return split.subset(slice(int(index[0]), int(index[-1]) + 1))


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``uint8`` images ``(N, C, H, W)``, in the
    ``[0, 1]`` scale, computed exactly from per-channel histograms of the pixel values, over
    about 8M values at a time, so images stored on disk (:mod:`toolkit.data.mapped`) are
    never all in memory at once."""
    channels = x.shape[1]
    counts = torch.zeros(channels, 256, dtype=torch.int64)
    step = max(1, 2**23 // max(1, x[0].numel())) if len(x) else 1
    for start in range(0, len(x), step):
        part = x[start : start + step]
        for c in range(channels):
            counts[c] += torch.bincount(part[:, c].flatten(), minlength=256)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    n = counts.sum(dim=1).double()
    mean = (counts.double() * values).sum(dim=1) / n
    var = (counts.double() * (values - mean[:, None]).square()).sum(dim=1) / (n - 1).clamp_min(1)
    std = var.sqrt().clamp_min(1e-6)
    return tuple(float(m) for m in mean.float()), tuple(float(s) for s in std.float())
