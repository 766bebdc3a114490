"""What a task gets from the runner: the data, the trained model and shared outputs.

A task asks the :class:`RunContext` for what it needs; the context loads the data once,
trains the model once (or reuses it from the artifact cache when another run with the same
data, model and training settings already trained it), computes each split's logits and
features once, and times every stage.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.recipe import ResolvedRecipe

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure
    from rich.console import Console
    from rich.progress import Progress
    from torch import nn

    from toolkit.cache import ArtifactCache
    from toolkit.data.base import DataBundle
    from toolkit.outputs import Outputs


@dataclass
class Table:
    """A table of results: shown on the console and in the report."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class TaskResult:
    """What a task returns: nested metrics (``metrics.json``), tables and figures."""

    metrics: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)


class RunLog:
    """Messages of a run: to the console and to ``log.txt`` in the run folder."""

    def __init__(self, path: Path | None, console: Console | None) -> None:
        self.path = path
        self.console = console
        self._fh = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115

    def info(self, message: str) -> None:
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        if self._fh is not None:
            self._fh.write(f"{stamp} {message}\n")
            self._fh.flush()
        if self.console is not None:
            self.console.print(f"[dim]{stamp}[/dim] {message}", highlight=False)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class RunContext:
    """The shared state of one run, handed to the task's ``run``.

    Args:
        recipe: the resolved recipe.
        device: where models run.
        cache: the artifact store, or ``None`` to neither read nor write it (``--no-cache``).
        log: where messages go.
        console: the rich console for progress bars (``None``: no bars).
        folder: the run folder being written (tasks may add files to it).
    """

    def __init__(
        self,
        recipe: ResolvedRecipe,
        *,
        device: torch.device,
        cache: ArtifactCache | None,
        log: RunLog,
        console: Console | None = None,
        folder: Path | None = None,
    ) -> None:
        self.recipe = recipe
        self.device = device
        self.cache = cache
        self.log = log
        self.console = console
        self.folder = folder
        self.timings: dict[str, float] = {}
        self.notes: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []
        self.defense_history: dict[str, list[dict[str, float]]] = {}
        self.fingerprints = recipe.fingerprints()
        self._data: DataBundle | None = None
        self._model: nn.Module | None = None
        self._pretrained: nn.Module | None = None
        self._undefended: nn.Module | None = None
        self.undefended_history: list[dict[str, float]] = []
        self._outputs: dict[str, Outputs] = {}

    @property
    def eval_batch_size(self) -> int:
        return self.recipe.recipe.runtime.eval_batch_size

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; the seconds add up in ``timings[name]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started

    @contextmanager
    def progress(self) -> Iterator[Progress | None]:
        """A rich progress display on the console (``None`` when there is no console)."""
        if self.console is None:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            yield bar

    def data(self) -> DataBundle:
        """The recipe's data set, loaded once."""
        if self._data is None:
            with self.stage("data"):
                spec = self.recipe.dataset
                self._data = spec.create(self.recipe.seed)
                for defense in self.recipe.defenses_by_hook("data"):
                    self._data = defense.create().transform(self._data)
            d = self._data
            ood = f", {len(d.ood)} held-out" if d.ood is not None else ""
            self.log.info(
                f"data [bold]{spec.name}[/bold]: {len(d.train)} train, {len(d.test)} test{ood}; "
                f"{d.info.num_classes} classes"
            )
        return self._data

    def pretrained_model(self) -> nn.Module:
        """The model after the shared training loop (with any defense that hooks into its batches).

        Loaded from the artifact cache when a run with the same ``train`` fingerprint trained it.
        """
        if self._pretrained is not None:
            return self._pretrained
        from toolkit.runtime import seed_everything
        from toolkit.training import train

        spec = self.recipe.model
        if spec is None:
            from toolkit.errors import UsageError

            raise UsageError(f"the '{self.recipe.task.name}' task needs a [model] table")
        data = self.data()
        seed_everything(self.recipe.seed)
        model = spec.create(data.info).to(self.device)
        cfg = self.recipe.recipe.train
        hooks = [d.create() for d in self.recipe.defenses_by_hook("batch")]

        def batch_hook(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            for hook in hooks:
                x, y = hook.transform(m, x, y)
            return x, y

        def fit(bar: Progress | None) -> list[dict[str, float]]:
            return train(
                model,
                data.train,
                cfg,
                seed=self.recipe.seed,
                device=self.device,
                test=data.test,
                eval_batch_size=self.eval_batch_size,
                batch_hook=batch_hook if hooks else None,
                progress=bar,
            )

        n_params = sum(p.numel() for p in model.parameters())
        self.history = self._trained(
            model,
            "train",
            fit,
            what=f"model [bold]{spec.name}[/bold]",
            doing=f"({n_params:,} parameters): training {cfg.epochs} epochs on {self.device}",
            cached_note="model_cached",
        )
        last = self.history[-1] if self.history else {}
        if "test_accuracy" in last:
            self.log.info(
                f"train accuracy {last['train_accuracy']:.3f}, test accuracy {last['test_accuracy']:.3f}"
            )
        self._pretrained = model
        return model

    def model(self) -> nn.Module:
        """The final model: the trained one, then each defense with a training loop of its own.

        Without such defenses this is :meth:`pretrained_model`. Each stage is cached.
        """
        if self._model is not None:
            return self._model
        loops = self.recipe.defenses_by_hook("train")
        if not loops:
            self._model = self.pretrained_model()
            return self._model
        import copy

        model = copy.deepcopy(self.pretrained_model())
        data = self.data()

        def fit(bar: Progress | None) -> dict[str, list[dict[str, float]]]:
            return {
                spec.name: spec.create().train(
                    model, data, seed=self.recipe.seed, device=self.device, progress=bar
                )
                for spec in loops
            }

        self.defense_history = self._trained(
            model,
            "defend",
            fit,
            what=f"defense{'s' if len(loops) > 1 else ''} [bold]{', '.join(d.name for d in loops)}[/bold]",
            doing=f"on {self.device}",
            cached_note="defense_cached",
        )
        self._model = model
        return model

    def undefended_model(self) -> nn.Module:
        """The same model trained the same way but without any defense (cached like any other)."""
        if self._undefended is None:
            import dataclasses

            plain = dataclasses.replace(self.recipe, components={**self.recipe.components, "defenses": []})
            twin = RunContext(
                plain,
                device=self.device,
                cache=self.cache,
                log=self.log,
                console=self.console,
                folder=self.folder,
            )
            if not self.recipe.defenses_by_hook("data"):
                twin._data = self._data
            self._undefended = twin.pretrained_model()
            self.undefended_history = twin.history
            for key, value in twin.notes.items():
                self.notes[f"undefended_{key}"] = value
        return self._undefended

    def _trained(
        self, model: nn.Module, stage: str, fit: Any, *, what: str, doing: str, cached_note: str
    ) -> Any:
        """Load ``model``'s weights for ``stage`` from the cache, or run ``fit`` and store them.

        Returns the history ``fit`` returned (kept in the cache entry's metadata).
        """
        key = self.fingerprints[stage]
        hit = self.cache.load("model", key) if self.cache is not None else None
        if hit is not None:
            with self.stage(stage):
                state, meta = hit
                model.load_state_dict(state)
                model.eval()
            self.notes[cached_note] = True
            self.notes[f"{stage}_seconds"] = float(meta.get("seconds", 0.0))
            when = _dt.datetime.fromtimestamp(meta.get("created", 0)).strftime("%Y-%m-%d %H:%M")
            self.log.info(
                f"{what}: [green]reusing cached model[/green] {key[:12]} "
                f"(made {when}, {meta.get('seconds', 0):.1f} s then); --no-cache recomputes"
            )
            return meta.get("history", [])
        self.log.info(f"{what} {doing}")
        with self.stage(stage), self.progress() as bar:
            started = time.perf_counter()
            history = fit(bar)
            seconds = time.perf_counter() - started
        model.eval()
        self.notes[cached_note] = False
        self.notes[f"{stage}_seconds"] = seconds
        self.log.info(f"{what}: done in {seconds:.1f} s")
        if self.cache is not None:
            self.cache.save(
                "model",
                key,
                model.state_dict(),
                {
                    "description": self._describe(stage),
                    "stage": self.recipe.stages()[stage],
                    "history": history,
                    "seconds": seconds,
                },
            )
        return history

    def _describe(self, stage: str) -> str:
        model = self.recipe.model.name if self.recipe.model else "model"
        text = f"{self.recipe.name}: {model} trained on {self.recipe.dataset.name}"
        if stage == "defend":
            text += " + " + ", ".join(d.name for d in self.recipe.defenses_by_hook("train"))
        return text

    def outputs(self, split: str) -> Outputs:
        """A split with the model's logits and features, computed once and shared."""
        if split not in self._outputs:
            from toolkit.outputs import Outputs

            model = self.model()
            data = self.data().split(split)
            # computed on first use: a split no detector reads costs nothing
            self._outputs[split] = Outputs(
                model, data.x, y=data.y, device=self.device, batch_size=self.eval_batch_size
            )
        return self._outputs[split]
