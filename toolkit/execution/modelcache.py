"""Trained models in the artifact cache: load a stage's model, or train it under the cache's
file lock and store it (the part of :class:`~toolkit.execution.pipeline.Pipeline` that
touches the cache)."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.execution import distributed
from toolkit.recipe import fingerprint

if TYPE_CHECKING:
    from torch import nn

    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.log import RunLog


@dataclass
class TrainedModel:
    """A model after the ``train`` or ``defend`` stage.

    Args:
        model: the network, in eval mode, on the run's device.
        history: per-epoch records of the training loop; for ``defend``, each defense's
            records under its name.
        seconds: how long the training took (when it was made, if it came from the cache).
        cached: whether it came from the artifact cache.
        fingerprint: the stage's fingerprint (the cache key).
    """

    model: nn.Module
    history: Any = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False
    fingerprint: str = ""


class ModelCache:
    """Loading and storing a pipeline's trained models; the pipeline provides ``cache``,
    ``store``, ``log``, ``stage(name)`` and ``describe(stage)``."""

    cache: ArtifactCache | None
    store: bool
    log: RunLog

    def stage(self, stage: str) -> dict[str, Any]:  # pragma: no cover - the pipeline's
        raise NotImplementedError

    def describe(self, stage: str) -> str:  # pragma: no cover - the pipeline's
        raise NotImplementedError

    def _cached(
        self,
        model: nn.Module,
        stage: str,
        fit: Callable[[Any], Any],
        *,
        what: str,
        doing: str,
        prepare: Callable[[], None] | None = None,
    ) -> TrainedModel:
        """Load ``model``'s weights for ``stage`` from the cache, or run ``fit`` and store them.

        On a miss the model is made under the cache's file lock for its key, and the cache is
        read again once the lock is held: a run that waited for another one making the same
        model loads it instead of training it a second time.
        """
        spec = self.stage(stage)
        key = fingerprint(spec)
        found = self._load_cached(model, stage, key, what)
        if found is not None:
            return found
        if self.cache is None or not self.store:
            return self._fit(model, stage, spec, fit, what=what, doing=doing, prepare=prepare)
        import filelock

        lock = self.cache.lock("model", key)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            self.log.info(f"{what}: another run is making model {key[:12]}; waiting for it")
            lock.acquire()
        try:
            found = self._load_cached(model, stage, key, what)
            if found is not None:
                return found
            return self._fit(model, stage, spec, fit, what=what, doing=doing, prepare=prepare)
        finally:
            lock.release()

    def _load_cached(self, model: nn.Module, stage: str, key: str, what: str) -> TrainedModel | None:
        """``model`` with the cached weights of ``key`` loaded, or ``None`` on a miss."""
        hit = self.cache.load("model", key) if self.cache is not None else None
        hit = distributed.shared_hit(hit, model)  # under torchrun, rank 0's decision holds for all
        if self.cache is not None and self.cache.last_problem:
            self.log.info(f"warning: {self.cache.last_problem}", style="yellow")
        if hit is None:
            return None
        with self.log.stage(stage):
            state, meta = hit
            model.load_state_dict(state)
            model.eval()
        when = _dt.datetime.fromtimestamp(meta.get("created", 0)).strftime("%Y-%m-%d %H:%M")
        self.log.info(
            f"{what}: reusing cached model {key[:12]} "
            f"(made {when}, {meta.get('seconds', 0):.1f} s then); --no-cache recomputes"
        )
        return TrainedModel(model, meta.get("history", []), float(meta.get("seconds", 0.0)), True, key)

    def _fit(
        self,
        model: nn.Module,
        stage: str,
        spec: dict[str, Any],
        fit: Callable[[Any], Any],
        *,
        what: str,
        doing: str,
        prepare: Callable[[], None] | None,
    ) -> TrainedModel:
        """Train ``model`` with ``fit`` and store its weights under the fingerprint of the
        stage's ``spec`` (when storing)."""
        key = fingerprint(spec)
        distributed.shared_miss()  # under torchrun, rank 0 tells the others to train too
        if prepare is not None:  # on a miss only, and outside this stage's progress bar
            prepare()
        self.log.info(f"{what} {doing}")
        with self.log.stage(stage), self.log.progress() as bar:
            started = time.perf_counter()
            history = fit(bar)
            seconds = time.perf_counter() - started
        model.eval()
        self.log.info(f"{what}: done in {seconds:.1f} s")
        if self.cache is not None and self.store:
            meta = {
                "description": self.describe(stage),
                "stage": spec,
                "history": history,
                "seconds": seconds,
            }
            try:
                self.cache.save("model", key, model.state_dict(), meta)
            except OSError as exc:  # a full disk, say: the run goes on, the model is not stored
                self.log.info(
                    f"warning: could not store the model in the cache ({exc}); going on", style="yellow"
                )
        return TrainedModel(model, history, seconds, False, key)
