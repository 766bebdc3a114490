"""The schema of a recipe: its fixed top level, ``[train]``, ``[runtime]`` and ``[sweep]``.

Pydantic models with unknown keys forbidden. The component sections (``[dataset]``,
``[[detectors]]``, ...) come from the table of kinds (:mod:`toolkit.kinds`): each is a
:class:`ComponentConfig`, a ``name`` plus the component's own parameters, which the
registry's signature of that component validates (:mod:`toolkit.recipe.resolution`).

Example:
    >>> TrainConfig(epochs=3).lr
    0.01
    >>> "detectors" in top_level()
    True
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from toolkit.kinds import KINDS, sections
from toolkit.params import FloatLike


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TrainConfig(_Strict):
    """How the model is trained (``[train]``); see :func:`toolkit.training.train`."""

    epochs: int = Field(10, ge=0, strict=True, description="passes over the training split")
    batch_size: int = Field(128, ge=1, description="samples per step")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    fused: bool = Field(
        False,
        description="Adam/AdamW: the fused kernel (one pass over all parameters; much faster for "
        "transformers on a CPU, the same algorithm with other rounding); ignored where unsupported",
    )
    lr: FloatLike = Field(0.01, gt=0, description="learning rate")
    momentum: FloatLike = Field(0.9, ge=0, description="SGD momentum")
    nesterov: bool = False
    weight_decay: FloatLike = Field(0.0, ge=0)
    schedule: Literal["none", "cosine", "step", "linear"] = Field(
        "none",
        description="cosine, step: per epoch; linear: warm-up, then decay to 0, per step",
    )
    warmup: FloatLike = Field(
        0.0, ge=0, lt=1, description="fraction of the steps of the linear schedule's warm-up"
    )
    clip_norm: FloatLike | None = Field(None, gt=0, description="clip the gradients' global L2 norm to this")
    monitor: Literal["accuracy", "mcc"] = Field(
        "accuracy",
        description="the per-epoch score on the test split that select reads (mcc also enters the history)",
    )
    select: Literal["last", "best"] = Field(
        "last", description="keep the last epoch's weights, or those of the epoch with the best monitor score"
    )
    step_size: int = Field(30, ge=1, description="epochs between decays of the step schedule")
    gamma: FloatLike = Field(0.1, gt=0, description="decay factor of the step schedule")
    augment: list[Literal["random_crop", "hflip"]] = Field(default_factory=list)
    crop_padding: int = Field(4, ge=0, description="zero padding of random_crop")
    amp: Literal["off", "auto", "bf16", "fp16"] = Field(
        "off",
        description="mixed precision: the forward pass and loss in bfloat16 or float16 (fp16 with a "
        "gradient scaler); auto: bf16 where the GPU or CPU computes it natively, else fp16 on CUDA, else off",
    )
    channels_last: bool = Field(
        False, description="image models and batches in channels-last memory order (faster on GPUs)"
    )
    compile: bool = Field(
        False, description="torch.compile the training forward pass (the first steps pay for compiling)"
    )
    init_from: str | None = Field(
        None,
        description="a recipe whose trained model's backbone starts this one (path relative to "
        "this recipe's folder); it is trained first if the cache lacks it",
    )
    init_set: list[str] = Field(
        default_factory=list,
        description="overrides (key=value, as --set) applied to the init_from recipe",
    )


class RuntimeConfig(_Strict):
    """Machine settings (``[runtime]``): never part of a fingerprint; CLI flags override them."""

    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    threads: int | None = Field(
        1,
        ge=1,
        description="torch CPU threads; 1 is fastest for small models on a shared machine",
    )
    workers: int = Field(0, ge=0, description="data-loader worker processes")
    eval_batch_size: int = Field(1024, ge=1, description="batch size of inference passes")
    cache_features: bool = Field(
        True, description="train a frozen backbone's head on its features computed once"
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return value


class SweepConfig(_Strict):
    """A study over this recipe (``[sweep]``), run by ``toolkit sweep``; never part of a
    fingerprint, and ``toolkit run`` ignores it. Each key is a recipe key as ``--set``
    writes it (``dataset.holdout``, ``defenses.0.lam``)."""

    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="every combination of these keys' values (the product)"
    )
    zip: dict[str, list[Any]] = Field(
        default_factory=dict, description="keys whose values go together, n-th with n-th (equal lengths)"
    )
    seeds: int = Field(1, ge=1, le=1000, description="runs per point, with seeds seed, seed + 1, ...")
    metrics: list[str] = Field(
        default_factory=list,
        description="the summary's columns: flattened metric names or patterns (detectors.*.auroc); "
        "empty: every number",
    )

    @field_validator("grid", "zip")
    @classmethod
    def _values(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", key):
                raise ValueError(f"'{key}' is not a recipe key such as train.lr or defenses.0.lam")
            if not values:
                raise ValueError(f"'{key}' has no values")
        return value


class ComponentConfig(BaseModel):
    """A component table: ``name`` plus the component's own parameters."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())
    name: str


class Recipe(_Strict):
    """The validated top level of a recipe, less its component sections.

    The component sections (``[dataset]``, ``[model]``, ``[[attacks]]``, ...) come from the
    table of kinds (:mod:`toolkit.kinds`) and are validated by :func:`sections_model`.
    """

    task: str
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    seed: int = Field(0, ge=0, lt=2**32, description="seeds NumPy, torch and the splits: 0 to 2**32 - 1")
    description: str = ""
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())
    evaluate: dict[str, Any] = Field(default_factory=dict)
    baselines: dict[str, list[str]] = Field(default_factory=dict)
    runtime: RuntimeConfig = Field(default_factory=lambda: RuntimeConfig())
    sweep: SweepConfig | None = None


def sections_model() -> type[BaseModel]:
    """The component sections as a pydantic model, one field per kind of the table."""
    key = tuple((k.section, k.many, k.required) for k in KINDS.values() if k.section)
    return _sections_model(key)


@cache
def _sections_model(key: tuple[tuple[str, bool, bool], ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for section, many, required in key:
        if many:
            fields[section] = (list[ComponentConfig], Field(default_factory=list))
        else:
            fields[section] = (ComponentConfig, ...) if required else (ComponentConfig | None, None)
    config = ConfigDict(extra="ignore", protected_namespaces=())
    model: type[BaseModel] = create_model("Sections", __config__=config, **fields)
    return model


def top_level() -> tuple[str, ...]:
    """Every top-level key a recipe may have."""
    return (*Recipe.model_fields, *sections())


#: The top-level tables with a fixed schema of their own, by key.
SECTION_MODELS: dict[str, type[BaseModel]] = {"train": TrainConfig, "runtime": RuntimeConfig}
