"""What a task gets: the thin view of a run's pipeline.

A task asks for what it needs and gets typed values: ``ctx.data()`` (the clean data),
``ctx.training_data()`` (what the model was trained on, after poisoning and data
defenses), ``ctx.trained()`` / ``ctx.defended()`` / ``ctx.undefended()``
(:class:`~toolkit.execution.pipeline.TrainedModel`), ``ctx.model()`` (the final network),
``ctx.without(section)`` (the same recipe trained without the components of a section: the
twin every "with and without" comparison uses), ``ctx.twin(recipe)`` (the context of a
variant of the recipe, sharing data, machine and cache), ``ctx.outputs(split)`` (logits,
features and the named layers the recipe's components declare, computed once and shared),
``ctx.build(spec)`` (a component bound to the data), and ``ctx.log`` for messages,
progress bars and timings. What tasks share beyond this is :mod:`toolkit.tasks.kit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.execution.pipeline import Pipeline, TrainedModel
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from toolkit.data.base import DataBundle
    from toolkit.data.inputs import Inputs
    from toolkit.outputs import Outputs
    from toolkit.recipe import Component, ResolvedRecipe

__all__ = ["Table", "TaskContext", "TaskResult", "TrainedModel"]


class TaskContext:
    """The run as a task sees it.

    Args:
        pipeline: the run's stages.
        folder: the run folder being written (a task may add files to it), or ``None``.
    """

    def __init__(self, pipeline: Pipeline, *, folder: Path | None = None) -> None:
        self.pipeline = pipeline
        self.recipe = pipeline.recipe
        self.device = pipeline.device
        self.log = pipeline.log
        self.folder = folder
        self._outputs: dict[str, Outputs] = {}

    @property
    def eval_batch_size(self) -> int:
        return self.pipeline.eval_batch_size

    def data(self) -> DataBundle:
        """The clean data (before any poisoning attack or data defense)."""
        return self.pipeline.data()

    def training_data(self) -> DataBundle:
        """What the model was trained on (after poisoning attacks and data defenses)."""
        return self.pipeline.training_data()

    def trained(self) -> TrainedModel:
        """The model after the shared training loop."""
        return self.pipeline.trained()

    def defended(self) -> TrainedModel:
        """The final model (after defenses with a training loop of their own)."""
        return self.pipeline.defended()

    def undefended(self) -> TrainedModel:
        """The same recipe trained without its defenses (``without("defenses")``)."""
        return self.without("defenses")

    def without(self, section: str, *, final: bool = True) -> TrainedModel:
        """The same recipe without the components of ``section`` (``"defenses"`` or
        ``"attacks"``): its final model, or with ``final = False`` its model before any
        ``defend`` stage. Keyed and cached like any recipe, so the recipe written without
        that section reuses it."""
        return self.pipeline.variant(section, final=final)

    def twin(self, recipe: ResolvedRecipe) -> TaskContext:
        """The context of another recipe (a variant of this one's parameters) on the same
        data, machine and cache; its models are keyed and cached like any recipe's."""
        return TaskContext(self.pipeline.sibling(recipe), folder=None)

    def model(self) -> nn.Module:
        """The final network (``defended().model``)."""
        return self.defended().model

    def build(self, component: Component, params: dict[str, Any] | None = None) -> Any:
        """A component of the recipe, created (with other ``params`` if given) and bound to the data."""
        return self.pipeline.build(component, self.data().info, params)

    def outputs(self, split: str) -> Outputs:
        """A split of the clean data with the final model's logits, features and the layers the
        recipe's detectors declare, computed once in one pass."""
        if split not in self._outputs:
            data = self.data().split(split)
            self._outputs[split] = self.outputs_of(self.model(), data.x, y=data.y)
            self._outputs[split].want(*self.layers("detectors"))
        return self._outputs[split]

    def layers(self, section: str) -> list[str]:
        """The named layers the components of ``section`` declare (``layers``), once each."""
        return self.pipeline.layers(section)

    def outputs_of(self, model: nn.Module, x: Inputs, *, y: torch.Tensor | None = None) -> Outputs:
        """Outputs of ``model`` on stored inputs ``x`` on the run's device (not shared)."""
        from toolkit.outputs import Outputs

        return Outputs(model, x, y=y, device=self.device, batch_size=self.eval_batch_size)
