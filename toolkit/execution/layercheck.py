"""``toolkit validate``'s check of named layers against the built model.

A component that reads a named module (``layers = ("backbone.2",)``) can only be checked
against a model, and a model only built for data: when a recipe has such a component,
``validate`` loads the data, builds the model (no training) and refuses a name the model
lacks, as the run would before training. Where the data or the model cannot be had here
(a data set not downloaded), it says the names were not checked instead of failing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.declarations import declared
from toolkit.errors import ToolkitError
from toolkit.models.layers import is_special

if TYPE_CHECKING:
    from toolkit.recipe import ResolvedRecipe

SECTIONS = ("detectors", "defenses", "explainers")


def named_layers(recipe: ResolvedRecipe) -> list[str]:
    """The module names (not ``penultimate`` or ``logits``) the recipe's components read."""
    names: list[str] = []
    for section in SECTIONS:
        for spec in recipe.section(section):
            found = declared(spec.factory(**spec.params), "layers") or ()
            names += [n for n in found if not is_special(n) and n not in names]
    return names


def check_layers(recipe: ResolvedRecipe) -> str | None:
    """A line saying what was checked (``None``: nothing to check).

    Raises:
        UsageError: a component reads a layer the built model lacks (exit status 2).
    """
    names = named_layers(recipe)
    if not names or recipe.model is None:
        return None
    import torch

    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline

    pipeline = Pipeline(recipe, device=torch.device("cpu"), cache=None, log=RunLog(None, None))
    try:
        model = recipe.model.create(pipeline.data().info)
    except ToolkitError as exc:
        return f"layers {', '.join(names)} not checked: no model could be built here ({exc})"
    pipeline.check_layers(model)
    return f"layers {', '.join(names)} found in the built {recipe.model.name}"
