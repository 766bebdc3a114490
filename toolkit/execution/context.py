"""What a task gets: the thin view of a run's pipeline.

A task asks for what it needs and gets typed values: ``ctx.data()`` (the clean data),
``ctx.training_data()`` (what the model was trained on, after poisoning and data
defenses), ``ctx.trained()`` / ``ctx.defended()`` / ``ctx.undefended()``
(:class:`~toolkit.execution.pipeline.TrainedModel`), ``ctx.model()`` (the final network),
``ctx.outputs(split)`` (logits and features computed once and shared), ``ctx.build(spec)``
(a component bound to the data), and ``ctx.log`` for messages, progress bars and timings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.execution.pipeline import Pipeline, TrainedModel
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

    from toolkit.data.base import DataBundle
    from toolkit.outputs import Outputs
    from toolkit.recipe import Component

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
        """The same recipe trained without its defenses."""
        return self.pipeline.undefended()

    def model(self) -> nn.Module:
        """The final network (``defended().model``)."""
        return self.defended().model

    def build(self, component: Component, params: dict[str, Any] | None = None) -> Any:
        """A component of the recipe, created (with other ``params`` if given) and bound to the data."""
        return self.pipeline.build(component, self.data().info, params)

    def outputs(self, split: str) -> Outputs:
        """A split of the clean data with the final model's logits and features, computed once."""
        if split not in self._outputs:
            from toolkit.outputs import Outputs

            model = self.model()
            data = self.data().split(split)
            self._outputs[split] = Outputs(
                model, data.x, y=data.y, device=self.device, batch_size=self.eval_batch_size
            )
        return self._outputs[split]
