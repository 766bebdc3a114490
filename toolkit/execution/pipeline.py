"""The stages of a run, each a typed value, each keyed by its fingerprint.

::

    data ──> poison ──> train ──> defend ──> run (the task)
    dataset   poisoning   model,     defenses     evasion attacks, detectors,
              attacks     [train],   with a loop  explainers, the task
                          data and   of their own
                          batch
                          defenses

:class:`Pipeline` computes each stage at most once, on first use: ``data()`` the clean
data, ``poisoned()`` the data after the poisoning attacks, ``training_data()`` after the
defenses of the data family, ``trained()`` the model after the shared training loop (with
the defenses of the batch family), ``defended()`` after the defenses with a training loop
of their own (and poison filters), ``variant(section)`` the same recipe without a section's
components (the twin a task compares with, through ``TaskContext.without``). Trained models
are stored in (and reused from) the artifact cache under their stage's fingerprint.

A sweep or a remote executor runs the same pipeline: it takes a resolved recipe and the
machine settings, nothing else.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

from toolkit.declarations import declared
from toolkit.errors import UsageError
from toolkit.execution import distributed
from toolkit.execution.modelcache import ModelCache, TrainedModel
from toolkit.protocols import bind
from toolkit.recipe import Component, ResolvedRecipe, fingerprint

if TYPE_CHECKING:
    import torch
    from torch import nn

    from toolkit.data.base import DataBundle, DataInfo
    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.log import RunLog


class Pipeline(ModelCache):
    """The stages of one resolved recipe on one device.

    Args:
        recipe: the resolved recipe.
        device: where models run.
        cache: the artifact store, or ``None`` to neither read nor write it.
        log: where messages, progress bars and stage timings go.
        store: whether to store trained models (default: when the cache can be written; a
            cache that cannot is a warning, and the run goes on without storing).
    """

    def __init__(
        self,
        recipe: ResolvedRecipe,
        *,
        device: torch.device,
        cache: ArtifactCache | None,
        log: RunLog,
        store: bool | None = None,
    ) -> None:
        self.recipe = recipe
        self.device = device
        self.cache = cache
        self.log = log
        self.fingerprints = recipe.fingerprints()
        #: Whether trained models are stored (false when the cache cannot be written).
        self.store = cache is not None if store is None else store
        if cache is not None and store is None:
            problem = cache.unwritable()
            if problem is not None:
                self.store = False
                log.info(
                    f"warning: the artifact cache {cache.root} cannot be written ({problem}); "
                    "the run goes on without storing models (set TOOLKIT_CACHE, or --no-cache)",
                    style="yellow",
                )
        self._data: DataBundle | None = None
        #: SHA-256 of the loaded data (:func:`toolkit.data.digest.data_digest`).
        self.data_digest: str | None = None
        self._poisoned: DataBundle | None = None
        self._training: DataBundle | None = None
        self._trained: TrainedModel | None = None
        self._defended: TrainedModel | None = None
        self._variants: dict[str, TrainedModel] = {}
        self._initial: Pipeline | None = None

    @property
    def eval_batch_size(self) -> int:
        return self.recipe.recipe.runtime.eval_batch_size

    def build(self, component: Component, info: DataInfo, params: dict[str, Any] | None = None) -> Any:
        """Create a component (with ``params`` instead of the recipe's, if given) bound to ``info``."""
        obj = component.factory(**(component.params if params is None else params))
        return bind(obj, info)

    # ------------------------------------------------------------------ data stages

    def data(self) -> DataBundle:
        """The dataset, loaded once (stage ``data``)."""
        if self._data is None:
            spec = self.recipe.dataset
            from toolkit.data.digest import data_digest

            with self.log.stage("data"), distributed.main_first():  # torchrun: one download
                self._data = spec.create(self.recipe.seed)
                self.data_digest = data_digest(self._data)
            d = self._data
            ood = f", {len(d.ood)} held-out" if d.ood is not None else ""
            self.log.info(
                f"data {spec.name}: {len(d.train)} train, {len(d.test)} test{ood}; "
                f"{d.info.num_classes} classes"
            )
        return self._data

    def poisoned(self) -> DataBundle:
        """The data after every poisoning attack, in recipe order (stage ``poison``)."""
        if self._poisoned is None:
            import torch

            bundle = self.data()
            attacks = self.recipe.family("attacks", "poisoning")
            if attacks:
                rng = torch.Generator().manual_seed(self.recipe.seed)
                with self.log.stage("poison"):
                    for spec in attacks:
                        bundle = self.build(spec, bundle.info).poison(bundle, rng)
                        self.log.info(f"poisoning attack {spec.name} applied to the training data")
            self._poisoned = bundle
        return self._poisoned

    def training_data(self) -> DataBundle:
        """What the model is trained on: the poisoned data after the data defenses."""
        if self._training is None:
            bundle = self.poisoned()
            defenses = self.recipe.family("defenses", "data")
            with self.log.stage("data"):
                for spec in defenses:
                    bundle = self.build(spec, bundle.info).transform(bundle)
            self._training = bundle
        return self._training

    # ------------------------------------------------------------------ model stages

    def trained(self) -> TrainedModel:
        """The model after the shared training loop (stage ``train``), from the cache if there."""
        if self._trained is None:
            self._trained = self._train()
        return self._trained

    def as_given(self) -> bool:
        """Whether the model is evaluated as given, with no training stage: ``train.epochs``
        is 0 (which a recipe without ``[train]`` gets when its model is trained already: see
        :func:`toolkit.recipe.resolution.parse_recipe`)."""
        return self.recipe.model is not None and self.recipe.recipe.train.epochs == 0

    def _given(self) -> TrainedModel:
        """The model as the recipe builds it (from its files), in eval mode: no training, no
        cache entry (loading the file is the work). Defenses that need training were refused
        when the recipe was read (:func:`toolkit.recipe.checks.check_given`)."""
        from toolkit.runtime import seed_everything

        spec = self.recipe.model
        assert spec is not None
        data = self.training_data()
        seed_everything(self.recipe.seed)
        with self.log.stage("train"):
            model = spec.create(data.info).to(self.device)
            self.check_layers(model)
            model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        self.log.info(f"model {spec.name} ({n_params:,} parameters): model as given, no training")
        return TrainedModel(model, [], 0.0, cached=False, fingerprint=fingerprint(self.stage("train")))

    def _train(self) -> TrainedModel:
        from toolkit.runtime import seed_everything
        from toolkit.training import train

        spec = self.recipe.model
        if spec is None:
            raise UsageError(f"the '{self.recipe.task.name}' task needs a [model] table")
        if self.as_given():
            return self._given()
        data = self.training_data()
        seed_everything(self.recipe.seed)
        model = spec.create(data.info).to(self.device)
        self.check_layers(model)
        cfg = self.recipe.recipe.train
        hooks = [self.build(d, data.info) for d in self.recipe.family("defenses", "batch")]

        objective = self._objective(data)

        def batch_hook(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            for hook in hooks:
                x, y = hook.transform(m, x, y)
            return x, y

        def fit(bar: Any) -> list[dict[str, float]]:
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
                info=data.info,
                cache_features=self.recipe.recipe.runtime.cache_features,
                objective=objective,
            )

        n_params = sum(p.numel() for p in model.parameters())
        result = self._cached(
            model,
            "train",
            fit,
            what=f"model {spec.name}",
            doing=f"({n_params:,} parameters): training {cfg.epochs} epochs on {self.device}",
            prepare=(lambda: self._initialize(model)) if self.recipe.init is not None else None,
        )
        last = result.history[-1] if result.history else {}
        if "test_accuracy" in last:
            self.log.info(
                f"train accuracy {last['train_accuracy']:.3f}, test accuracy {last['test_accuracy']:.3f}"
            )
        return result

    def declared_layers(self, section: str) -> list[tuple[str, tuple[str, ...]]]:
        """Per component of ``section``, its entry (``detectors.0 (name)``) and the named
        layers it declares (``layers``)."""
        info = self.data().info
        return [
            (f"{section}.{i} ({spec.name})", tuple(declared(self.build(spec, info), "layers") or ()))
            for i, spec in enumerate(self.recipe.section(section))
        ]

    def layers(self, section: str) -> list[str]:
        """The named layers the components of ``section`` declare, once each."""
        names: list[str] = []
        for _, found in self.declared_layers(section):
            names += [n for n in found if n not in names]
        return names

    def check_layers(self, model: nn.Module) -> None:
        """Refuse, before any training, a component that reads a layer ``model`` lacks."""
        from toolkit.models.layers import missing_layers, unknown_layer

        problems = [
            unknown_layer(model, name, who=f"{entry} reads: ")
            for section in ("detectors", "defenses", "explainers")
            for entry, found in self.declared_layers(section)
            for name in missing_layers(model, found)
        ]
        if problems:
            raise UsageError("; ".join(problems))

    def _objective(self, data: DataBundle) -> Any:
        """The poisoning attacks' terms of the training loss, summed (``None`` if none has one)."""
        terms = [t for spec in self.recipe.family("attacks", "poisoning")
                 if (t := self.build(spec, data.info).objective(data)) is not None]  # fmt: skip
        if not terms:
            return None
        return lambda features, index: sum(term(features, index) for term in terms)

    def initial(self) -> Pipeline:
        """The pipeline of the recipe named by ``[train] init_from``."""
        assert self.recipe.init is not None
        if self._initial is None:
            self._initial = Pipeline(self.recipe.init, device=self.device, cache=self.cache, log=self.log,
                                     store=self.store)  # fmt: skip
        return self._initial

    def _initialize(self, model: nn.Module) -> None:
        """Copy the normalization and backbone of ``init_from``'s trained model into ``model``
        (its neck and head stay fresh: their shapes follow this recipe's classes)."""
        assert self.recipe.init is not None
        self.log.info(f"backbone from recipe {self.recipe.init.name} (train.init_from)")
        source = self.initial().trained().model.state_dict()
        target = model.state_dict()
        parts = ("normalize.", "backbone.")
        copied = {k: v for k, v in source.items() if k.startswith(parts)}
        wrong = [k for k, v in copied.items() if k not in target or target[k].shape != v.shape]
        if wrong or not copied:
            raise UsageError(
                f"train.init_from: the model of recipe '{self.recipe.init.name}' does not fit this "
                f"recipe's model ({'no backbone' if not copied else 'differs at ' + ', '.join(wrong[:3])}); "
                "use the same model and parameters up to the head"
            )
        model.load_state_dict({**target, **copied})
        from toolkit.runtime import seed_everything

        seed_everything(self.recipe.seed)  # the same stream whether init_from's model was cached or not

    def defended(self) -> TrainedModel:
        """The final model: the trained one after each defense with a training loop of its own
        (stage ``defend``); without such defenses, :meth:`trained`."""
        if self._defended is None:
            loops = self.recipe.family("defenses", "train")
            if self.recipe.family("defenses", "filter"):
                self._defended = self._filtered(loops)
            elif not loops:
                self._defended = self.trained()
            else:
                model = copy.deepcopy(self.trained().model)
                data = self.training_data()

                def fit(bar: Any) -> dict[str, list[dict[str, float]]]:
                    return {
                        spec.name: self.build(spec, data.info).train(
                            model, data, seed=self.recipe.seed, device=self.device, progress=bar
                        )
                        for spec in loops
                    }

                names = ", ".join(d.name for d in loops)
                self._defended = self._cached(
                    model,
                    "defend",
                    fit,
                    what=f"defense{'s' if len(loops) > 1 else ''} {names}",
                    doing=f"on {self.device}",
                )
        return self._defended

    def _filtered(self, loops: list[Component]) -> TrainedModel:
        """A fresh model trained on the training samples no poison filter flags, then changed
        by each defense with a training loop of its own (``loops``) on those samples (stage
        ``defend``). Each filter flags samples with the model trained on all of them; the
        history records the flagged indices per filter, ``{"flagged": {label: [...]},
        "training": [...], <loop defense>: [...]}``, so a cached model keeps them."""
        from toolkit.outputs import Outputs
        from toolkit.runtime import seed_everything
        from toolkit.training import train

        spec, data, cfg = self.recipe.model, self.training_data(), self.recipe.recipe.train
        assert spec is not None  # trained() needs it, and runs first
        poisoned = self.trained().model
        filters = self.recipe.family("defenses", "filter")
        seed_everything(self.recipe.seed)
        model = spec.create(data.info).to(self.device)

        def fit(bar: Any) -> dict[str, Any]:
            import torch

            outputs = Outputs(poisoned, data.train.x, y=data.train.y, device=self.device,
                              batch_size=self.eval_batch_size, layers=self.layers("defenses"))  # fmt: skip
            flagged, union = {}, torch.zeros(len(data.train), dtype=torch.bool)
            for i, component in enumerate(self.recipe.section("defenses")):
                if component.family == "filter":
                    mask = self.build(component, data.info).flag(poisoned, outputs).cpu().bool()
                    flagged[self.recipe.label("defenses", i)] = mask.nonzero().flatten().tolist()
                    union |= mask
            if distributed.active():  # torchrun: every rank trains on the samples rank 0 kept
                flagged = distributed.broadcast(flagged)
                union[:] = False
                for index in flagged.values():
                    union[index] = True
            self.log.info(f"filters flagged {int(union.sum())} of {len(union)} training samples")
            kept = data.train.subset(~union)
            history = train(model, kept, cfg, seed=self.recipe.seed, device=self.device, test=data.test,
                            eval_batch_size=self.eval_batch_size, progress=bar, info=data.info,
                            cache_features=self.recipe.recipe.runtime.cache_features)  # fmt: skip
            kept_data = dataclasses.replace(data, train=kept)
            after = {}
            for spec in loops:
                defense = self.build(spec, data.info)
                after[spec.name] = defense.train(
                    model, kept_data, seed=self.recipe.seed, device=self.device, progress=bar
                )
            return {"flagged": flagged, "training": history, **after}

        names = ", ".join(f.name for f in [*filters, *loops])
        doing = "flags training samples, then trains a fresh model on the rest"
        doing += ", then runs the defenses with a loop of their own on it" if loops else ""
        prepare = (lambda: self._initialize(model)) if self.recipe.init is not None else None
        return self._cached(model, "defend", fit, what=f"filter {names}", doing=doing, prepare=prepare)

    def sibling(self, recipe: ResolvedRecipe) -> Pipeline:
        """A pipeline of another recipe on the same data (already loaded) and machine, sharing
        the cache: a variant of this recipe's parameters, say."""
        twin = Pipeline(recipe, device=self.device, cache=self.cache, log=self.log, store=self.store)
        twin._data, twin.data_digest = self._data, self.data_digest
        return twin

    def variant(self, without: str, *, final: bool = True) -> TrainedModel:
        """The final model (``final``; else the trained one, before any ``defend`` stage) of the
        same recipe without the components of section ``without`` (``"defenses"``: the
        undefended twin; ``"attacks"``: the model trained on clean data). It is keyed and
        cached like any recipe, so the recipe without that section reuses it."""
        key = f"{without}:{final}"
        if key not in self._variants:
            self.log.info(f"for comparison: the same recipe without its {without}")
            twin = self.sibling(self.recipe.without(without))
            if without != "attacks":  # the poisoned data stays; only the defenses go
                twin._poisoned = self._poisoned
            self._variants[key] = twin.defended() if final else twin.trained()
        return self._variants[key]

    def stage(self, stage: str) -> dict[str, Any]:
        """What ``stage``'s result depends on: the recipe's stage (:meth:`ResolvedRecipe.stages`)
        and, after ``data``, the digest of the data actually loaded, so a changed data file
        never reuses a model trained on the old one, and what the model factory's
        ``files_key(params)`` says identifies the files it loads (a checkpoint's weights).
        Its fingerprint is the cache key."""
        spec = dict(self.recipe.stages()[stage])
        model = self.recipe.model
        files_key = declared(model.factory, "files_key") if model is not None else None
        if stage not in ("data", "poison") and model is not None and callable(files_key):
            spec["model_files"] = files_key(model.params)  # a checkpoint's weights, say
        if stage not in ("data", "poison") and self.recipe.init is not None:
            spec["init_key"] = fingerprint(self.initial().stage("train"))  # its data, as read
        if stage != "data":
            if self.data_digest is None:
                from toolkit.data.digest import data_digest

                self.data_digest = data_digest(self.data())
            spec["data_read"] = self.data_digest
        return spec

    def describe(self, stage: str) -> str:
        model = self.recipe.model.name if self.recipe.model else "model"
        text = f"{self.recipe.name}: {model} trained on {self.recipe.dataset.name}"
        if stage == "defend":
            text += " + " + ", ".join(d.name for d in self.recipe.family("defenses", "train"))
        return text
