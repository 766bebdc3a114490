"""TOML recipes: parsing, ``--set`` overrides, validation and fingerprints.

A recipe has a fixed top level, validated by pydantic with unknown keys forbidden::

    task = "ood"
    name = "quickstart"
    seed = 0

    [dataset]
    name = "digits"
    holdout = ["9"]

    [model]
    name = "mlp"

    [train]
    epochs = 20

    [[detectors]]
    name = "msp"

    [evaluate]
    tpr = 0.95

Each component table (``dataset``, ``model``, every entry of ``attacks``, ``defenses``,
``detectors`` and ``explainers``) names a registered component; its other keys are that
component's keyword parameters, validated against the component's typed signature, and
``[evaluate]`` holds the task's own parameters. All problems are reported at once, each
with its key path and, where one is close, a suggestion.

Example:
    >>> from toolkit.recipe import parse_recipe
    >>> r = parse_recipe({"task": "ood", "name": "demo", "dataset": {"name": "synthetic", "holdout": ["c3"]},
    ...                   "model": {"name": "mlp"}, "detectors": [{"name": "msp"}]})
    >>> r.dataset.params["n_classes"]
    4

The package, along its seams:

- :mod:`~toolkit.recipe.schema`: the pydantic models of the fixed top level and its tables;
- :mod:`~toolkit.recipe.reading`: the TOML file and the ``--set`` overrides;
- :mod:`~toolkit.recipe.resolution`: :func:`load_recipe` and :func:`parse_recipe`, and
  :mod:`~toolkit.recipe.components`: each component table found, validated and classified;
- :mod:`~toolkit.recipe.checks`: what components declare (classes, modalities, the
  sections and baselines a task takes), checked against the recipe;
- :mod:`~toolkit.recipe.problems`: pydantic's errors in the recipe's words;
- :mod:`~toolkit.recipe.resolved`: the :class:`ResolvedRecipe` a run reads, with the
  fingerprint of each stage.
"""

from __future__ import annotations

from toolkit.declarations import module_declaration as declared
from toolkit.errors import Problem, RecipeError
from toolkit.params import FloatLike
from toolkit.recipe.checks import dataset_modality
from toolkit.recipe.reading import apply_overrides, parse_value, read_toml
from toolkit.recipe.resolution import load_recipe, parse_recipe
from toolkit.recipe.resolved import Component, ResolvedRecipe, canonical_json, fingerprint
from toolkit.recipe.schema import (
    ComponentConfig,
    Recipe,
    RuntimeConfig,
    SweepConfig,
    TrainConfig,
    sections_model,
    top_level,
)

__all__ = [
    "Component",
    "ComponentConfig",
    "FloatLike",
    "Problem",
    "Recipe",
    "RecipeError",
    "ResolvedRecipe",
    "RuntimeConfig",
    "SweepConfig",
    "TrainConfig",
    "apply_overrides",
    "canonical_json",
    "dataset_modality",
    "declared",
    "fingerprint",
    "load_recipe",
    "parse_recipe",
    "parse_value",
    "read_toml",
    "sections_model",
    "top_level",
]
