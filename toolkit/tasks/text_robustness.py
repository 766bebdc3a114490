"""Robustness of a text classifier to rewritten inputs: accuracy and MCC per augmentation.

Each augmenter of the recipe (:mod:`toolkit.text.augment`: character noise, keyboard
typos, word deletion and swaps, shuffling, synonyms, antonyms, back-translation) rewrites
every test sentence (seeded); the rewritten sentences are tokenized like the data and
scored with the labels of the originals. Antonyms can flip the true label, so their drop
is no robustness failure: the table marks them.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from toolkit.execution.context import TaskContext


class TextRobustnessTask:
    """Score a text classifier on augmented copies of its test split (``task = "text_robustness"``).

    Args:
        augmenters: tables with ``name`` and the augmenter's parameters, e.g.
            ``[{name = "char_noise", p = 0.1}, {name = "word_delete", p = 0.2}]``.
        seed: seeds the augmenters (default 0).

    Metrics: per augmenter (and ``clean``) ``accuracy``, ``mcc``, ``changed`` (the fraction of
    sentences it changed) and ``flips_label``.
    """

    uses = ("model", "train", "defenses")
    requires = ()
    modalities = ("text",)
    example_params: ClassVar[dict[str, Any]] = {"augmenters": [{"name": "shuffle"}]}

    def __init__(self, *, augmenters: list[dict[str, Any]], seed: int = 0) -> None:
        from toolkit.errors import UsageError

        if not augmenters:
            raise UsageError("evaluate.augmenters: name at least one augmenter")
        self.augmenters = build_augmenters(augmenters, key="evaluate.augmenters")
        self.seed = seed

    @classmethod
    def check(cls, recipe: Any) -> list[Any]:
        """Augmenters that exist with valid parameters (built once, here); text data is
        checked through ``modalities``."""
        from toolkit.errors import UsageError
        from toolkit.recipe import Problem

        try:
            cls(**recipe.task.params)
        except (UsageError, ValueError, TypeError) as exc:
            return [Problem("evaluate.augmenters", str(exc))]
        return []

    def run(self, ctx: TaskContext) -> TaskResult:
        from toolkit import plots

        data = ctx.data()
        metrics, variants = augmented_scores(ctx.model(), data, self.augmenters, seed=self.seed,
                                             device=ctx.device, batch_size=ctx.eval_batch_size)  # fmt: skip
        for label, m in metrics.items():
            ctx.log.info(f"{label}: accuracy {m['accuracy']:.4f}, MCC {m['mcc']:.4f}")
        texts = variants["clean"]
        rows = [
            [k, v["accuracy"], v["mcc"], v["changed"], "yes" if v["flips_label"] else ""]
            for k, v in metrics.items()
        ]
        table = Table(
            title="Accuracy and MCC on augmented test sentences",
            columns=["augmentation", "accuracy", "MCC", "sentences changed", "may flip the label"],
            rows=rows,
        )
        figure = plots.bars(
            {k: v["mcc"] for k, v in metrics.items()}, ylabel="MCC", title="MCC per augmentation"
        )
        examples = {
            "text": np.array(texts[:20]),
            **{k: np.array(v[:20]) for k, v in variants.items() if k != "clean"},
        }
        return TaskResult(metrics=metrics, tables=[table], figures={"mcc_by_augmentation": figure},
                          samples={"examples": examples})  # fmt: skip


def build_augmenters(tables: list[Any], *, key: str) -> dict[str, Any]:
    """The augmenters the recipe's ``tables`` (``name`` and parameters) describe, by label (a
    repeated name gets its index); a usage error naming ``key.<index>`` for a table without a
    name, an unknown name or parameters the augmenter does not take."""
    from toolkit.errors import UsageError
    from toolkit.text.augment import make_augmenter

    built: dict[str, Any] = {}
    for k, table in enumerate(tables):
        params = dict(table) if isinstance(table, dict) else {}
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise UsageError(f"{key}.{k}: each augmenter needs a name")
        try:
            augmenter = make_augmenter(name, **params)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{key}.{k}: {exc}") from exc
        built[name if name not in built else f"{name}.{k}"] = augmenter
    return built


def augmented_scores(
    model: Any, data: Any, augmenters: dict[str, Any], *, seed: int, device: Any, batch_size: int
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Per augmenter (and ``clean``): ``accuracy``, ``balanced_accuracy``, ``mcc``, ``changed``
    and ``flips_label`` of ``model`` on the rewritten test sentences of ``data``, and the
    sentences themselves."""
    from toolkit.data.base import Split
    from toolkit.declarations import declared
    from toolkit.errors import UsageError
    from toolkit.metrics.classification import accuracy, balanced_accuracy, mcc
    from toolkit.tasks.kit import predict
    from toolkit.text.tokens import tokenize

    texts, info = data.test.text, data.info
    if texts is None or info.tokenizer is None:
        raise UsageError("text augmentations need text data (glue_cola, text_csv)")
    y = data.test.y.numpy()
    variants: dict[str, list[str]] = {"clean": list(texts)}
    for label, augmenter in augmenters.items():
        variants[label] = augmenter.augment(list(texts), random.Random(seed))
    metrics: dict[str, Any] = {}
    for label, sentences in variants.items():
        split = data.test  # the clean sentences are tokenized already
        if label != "clean":
            split = Split(tokenize(sentences, info.tokenizer, max_length=info.max_length or 512), data.test.y)
        pred = predict(model, split.x, device=device, batch_size=batch_size).numpy()
        metrics[label] = {
            "accuracy": accuracy(y, pred),
            "balanced_accuracy": balanced_accuracy(y, pred),
            "mcc": mcc(y, pred),
            "changed": float(np.mean([a != b for a, b in zip(sentences, texts, strict=True)])),
            "flips_label": bool(declared(augmenters.get(label), "flips_label")),
        }
    return metrics, variants
