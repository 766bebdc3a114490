"""A finished run's final model, written as a file any PyTorch code (or the toolkit) can load.

``toolkit export RUN --to model.pt2`` (or ``.safetensors``, ``.pth``) rebuilds the run's
pipeline from its ``recipe.toml``, takes its final model from the artifact cache (the model
the run evaluated: after its defenses, if any) and writes

- ``.pt2``: a ``torch.export`` program with a dynamic batch dimension, taking inputs as the
  toolkit gives them (images in ``[0, 1]``; it normalizes inside), its classification layer
  named ``head``; back in a recipe: ``model = {name = "torchscript", path = ..., head = "head"}``;
- ``.safetensors`` or ``.pth``: the ``state_dict``, for the same architecture:
  ``model = {name = <the run's model>, <its parameters>, weights = ...}``.

It never trains: a model that is no longer in the cache (cleared, or made by other code of
the toolkit) is an error that says how to make it again. A model evaluated as given is
built from its file again.

Example:
    >>> recipe_table({"name": "small_cnn", "hidden": 32, "mean": None}, "/m.safetensors")
    {'name': 'small_cnn', 'hidden': 32, 'weights': '/m.safetensors'}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.errors import RunError, UsageError

__all__ = ["FORMATS", "export_run", "recipe_table"]

#: The file suffixes ``export_run`` writes, and what each holds.
FORMATS = {
    ".pt2": "a torch.export program",
    ".safetensors": "the weights",
    ".pth": "the weights (state_dict)",
}


def export_run(folder: str | Path, to: str | Path) -> dict[str, Any]:
    """Write the final model of the finished run in ``folder`` to ``to``.

    Returns:
        The ``[model]`` table that brings the file back as given.

    Raises:
        UsageError: ``folder`` is not a finished run folder, ``to`` has another suffix or
            cannot be written, or the model is a text model and ``to`` a ``.pt2``.
        RunError: the run's model is no longer in the artifact cache.
    """
    import torch

    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline
    from toolkit.execution.runread import load_run
    from toolkit.recipe import fingerprint, parse_recipe

    target = Path(to).expanduser()
    if target.suffix not in FORMATS:
        shown = ", ".join(f"{s} ({what})" for s, what in FORMATS.items())
        raise UsageError(f"--to {target}: the file's suffix says its format: {shown}")
    stored = load_run(Path(folder))
    recipe = parse_recipe(stored.recipe, source=str(stored.folder / "recipe.toml"))
    if recipe.model is None:
        raise UsageError(f"{stored.folder}: the run's task ({recipe.task.name}) has no model to export")
    cache = ArtifactCache()
    pipeline = Pipeline(recipe, device=torch.device("cpu"), cache=cache, log=RunLog(None, None), store=False)
    if not pipeline.as_given():
        loops = recipe.family("defenses", "train") + recipe.family("defenses", "filter")
        stage = "defend" if loops else "train"
        key = fingerprint(pipeline.stage(stage))
        if not cache.exists("model", key):
            raise RunError(
                f"the model of {stored.folder} is not in the artifact cache {cache.root} (cleared, or made "
                f"by another version of the toolkit): run its recipe again (toolkit run "
                f"{stored.folder / 'recipe.toml'}) and export that run"
            )
    model = pipeline.defended().model.eval().cpu()
    info = pipeline.data().info
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".pt2":
        _program(model, info, target)
        return {"name": "torchscript", "path": str(target.resolve()), "head": "head"}
    _weights(model, target)
    return recipe_table(recipe.model.table(), str(target.resolve()))


def recipe_table(model: dict[str, Any], weights: str) -> dict[str, Any]:
    """The run's ``[model]`` table with ``weights`` (and without ``pretrained``, which the
    file replaces)."""
    kept = {k: v for k, v in model.items() if k not in ("pretrained", "weights") and v is not None}
    return {**kept, "weights": weights}


def _program(model: Any, info: Any, target: Path) -> None:
    import torch

    from toolkit.report import replace_file

    if info.modality == "text":
        raise UsageError(
            "--to .pt2: a text model takes token ids and masks; export its weights (.safetensors)"
        )
    example = torch.zeros(2, *info.tensor_shape)
    try:
        program = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:  # torch's export errors are many; the message says which construct
        raise RunError(f"torch.export could not trace the model ({type(exc).__name__}: {exc})") from exc
    import io

    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    replace_file(target, buffer.getvalue())


def _weights(model: Any, target: Path) -> None:
    import io

    import torch

    from toolkit.report import replace_file

    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    if target.suffix == ".safetensors":
        from safetensors.torch import save

        replace_file(target, save(state))
    else:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        replace_file(target, buffer.getvalue())
