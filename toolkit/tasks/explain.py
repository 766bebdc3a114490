"""Token explanations of a text classifier: which words drove each prediction.

Every explainer of the recipe (``shap``, ``lime``, ``integrated_gradients``, or a plugin's)
explains a few sentences (the recipe's own, or the first of the test split) for the
predicted class. Sub-word tokens are merged back into words (attributions summed). The
task reports, per method, the completeness gap where the method promises completeness
(SHAP: ``sum = P(c|x) - P(c|masked)``; IG: ``sum = f_c(x) - f_c(baseline)``) and the
baseline's prediction; the agreement between methods (Spearman rank correlation of the
word attributions, averaged over sentences); and a sanity check (Adebayo et al., "Sanity
Checks for Saliency Maps", NeurIPS 2018): the same explanations of a model whose weights
are randomly re-initialized must differ from the trained model's (a rank correlation near
0). Agreement between methods is not correctness: two methods can agree on a wrong answer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field

from toolkit.explainers.sanity import randomized_weights, rank_correlation, rank_correlations, rows
from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from torch import nn

    from toolkit.execution.context import TaskContext


class ExplainTask:
    """Explain a text classifier's predictions token by token (``task = "explain"``).

    Args:
        sentences: the sentences to explain (default: the first ``samples`` of the test split).
        samples: how many test sentences when ``sentences`` is empty (default 3).
        sanity: also explain a randomly re-initialized copy of the model (default true).
        sanity_threshold: the largest mean |Spearman| between the trained and the random
            model's attributions for which the sanity check passes (default 0.5).
        target: explain the ``predicted`` class (default) or the ``label`` (test sentences only).

    Metrics: per explainer ``completeness_gap`` (mean, max; when the method reports it),
    ``baseline_probability``, ``seconds`` and ``sanity_spearman``; ``agreement`` (pairwise
    Spearman); per sentence the words, the prediction and each method's word attributions
    (also in ``attributions.json``); ``explanations.html`` shows the highlighted words.
    """

    uses = ("model", "train", "explainers")
    requires = ("explainers",)
    modalities = ("text",)

    def __init__(
        self,
        *,
        sentences: list[str] = [],  # noqa: B006 - read-only default, shown by `toolkit show`
        samples: Annotated[int, Field(ge=1, le=100)] = 3,
        sanity: bool = True,
        sanity_threshold: Annotated[float, Field(gt=0, le=1)] = 0.5,
        target: Literal["predicted", "label"] = "predicted",
    ) -> None:
        self.sentences, self.samples, self.sanity = list(sentences), samples, sanity
        self.sanity_threshold, self.target = sanity_threshold, target

    @classmethod
    def check(cls, recipe: Any) -> list[Any]:
        """``target = "label"`` needs test sentences; text data is checked through ``modalities``."""
        from toolkit.recipe import Problem

        problems = []
        if recipe.task.params.get("target") == "label" and recipe.task.params.get("sentences"):
            problems.append(Problem("evaluate.target", '"label" needs test sentences: leave sentences out'))
        return problems

    def run(self, ctx: TaskContext) -> TaskResult:
        from toolkit import plots
        from toolkit.explainers.text import text_tokenizer
        from toolkit.tasks import kit

        data, model = ctx.data(), ctx.model()
        tokenizer = text_tokenizer(data.info.tokenizer, model, "explain")
        inputs, labels, texts = self._inputs(data, tokenizer)
        probs = kit.probabilities(model, inputs, device=ctx.device, batch_size=ctx.eval_batch_size)
        targets = probs.argmax(1) if self.target == "predicted" or labels is None else labels
        seed = ctx.recipe.seed if self.sanity else None
        methods: dict[str, Any] = {}
        for i, spec in enumerate(ctx.recipe.explainers):
            label = ctx.recipe.label("explainers", i)
            ctx.log.info(f"explainer {label} on {len(texts)} sentences")
            methods[label] = _explain(ctx.build(spec), model, seed, inputs, targets, tokenizer)
        per_sentence = word_records(texts, inputs, probs, targets, data.info.class_names, methods, tokenizer)
        agreement = _agreement(per_sentence, list(methods))
        metrics: dict[str, Any] = {
            "explainers": {k: v["summary"] for k, v in methods.items()},
            "agreement": agreement,
            "sanity_threshold": self.sanity_threshold,
            "sentences": per_sentence,
        }
        for summary in metrics["explainers"].values():
            if "sanity_spearman" in summary:
                summary["sanity_passed"] = bool(abs(summary["sanity_spearman"]) < self.sanity_threshold)
        figures = {
            f"sentence_{k}": plots.word_attributions(s, title=s["text"]) for k, s in enumerate(per_sentence)
        }
        files = {"attributions.json": json.dumps(per_sentence, indent=2)}
        files["explanations.html"] = _html(per_sentence)
        return TaskResult(metrics=metrics, tables=_tables(metrics), figures=figures, files=files)

    def _inputs(self, data: Any, tokenizer: Any) -> tuple[dict[str, torch.Tensor], Any, list[str]]:
        """The token inputs, labels (``None`` for the recipe's own sentences) and texts."""
        from toolkit.data.inputs import take
        from toolkit.text.tokens import encode

        if self.sentences:
            ids = encode(tokenizer, self.sentences, max_length=512)
            return ids, None, list(self.sentences)
        n = min(self.samples, len(data.test))
        texts = (data.test.text or [])[:n]
        return dict(take(data.test.x, slice(0, n))), data.test.y[:n], list(texts)


def _explain(
    explainer: Any,
    model: nn.Module,
    seed: int | None,
    inputs: dict[str, torch.Tensor],
    targets: torch.Tensor,
    tokenizer: Any,
) -> dict[str, Any]:
    """One explainer's attributions on the trained model (and, with a ``seed``, on the same
    model with its weights randomized), with a summary."""
    import time

    started = time.perf_counter()
    maps = explainer.explain(model, inputs, targets).detach().cpu()
    summary: dict[str, Any] = {"seconds": time.perf_counter() - started}
    found = completeness(explainer)
    if "gap" in found:
        gap = found["gap"]
        summary["completeness_gap"] = {"mean": float(gap.mean()), "max": float(gap.max())}
    if "baseline" in found:
        summary["baseline_probability"] = [float(b) for b in found["baseline"]]
    out: dict[str, Any] = {"maps": maps, "summary": summary}
    if seed is not None:
        with randomized_weights(model, seed):
            random_maps = explainer.explain(model, inputs, targets).detach().cpu()
        signed = rows(maps, inputs, absolute=False), rows(random_maps, inputs, absolute=False)
        rhos = rank_correlations(*signed)
        summary["sanity_spearman"] = float(np.nanmean(rhos)) if not np.all(np.isnan(rhos)) else float("nan")
    return out


def completeness(explainer: Any) -> dict[str, torch.Tensor]:
    """What ``explainer.completeness()`` reports of its last call (``gap``, ``baseline``); an
    explainer that still sets the attributes ``completeness_`` / ``base_`` works, with a
    deprecation warning."""
    import warnings

    from toolkit.declarations import declared
    from toolkit.errors import ToolkitDeprecationWarning

    method = declared(explainer, "completeness")
    if callable(method):
        return dict(method() or {})
    old = {"gap": getattr(explainer, "completeness_", None), "baseline": getattr(explainer, "base_", None)}
    if all(v is None for v in old.values()):
        return {}
    warnings.warn(
        f"explainer {type(explainer).__name__} reports completeness through the attributes "
        "completeness_ and base_; define a method completeness() returning "
        '{"gap": ..., "baseline": ...} instead (docs/plugins.md, Explainers)',
        ToolkitDeprecationWarning,
        stacklevel=2,
    )
    return {k: v for k, v in old.items() if v is not None}


def word_records(
    texts: list[str],
    inputs: dict[str, torch.Tensor],
    probs: torch.Tensor,
    targets: torch.Tensor,
    names: list[str],
    methods: dict[str, Any],
    tokenizer: Any,
) -> list[dict[str, Any]]:
    """Per sentence: the words, the prediction and each method's word attributions."""
    from toolkit.explainers.text import merge_words

    special = set(tokenizer.all_special_tokens)
    out = []
    for i, text in enumerate(texts):
        n = int(inputs["attention_mask"][i].sum())
        tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][i, :n].tolist())
        record: dict[str, Any] = {"text": text, "target": names[int(targets[i])]}
        record["probabilities"] = {c: float(p) for c, p in zip(names, probs[i].tolist(), strict=True)}
        record["attributions"] = {}
        for label, found in methods.items():
            words, scores = merge_words(tokens, found["maps"][i, :n].tolist(), special)
            record["words"] = words
            record["attributions"][label] = scores
        out.append(record)
    return out


def _agreement(per_sentence: list[dict[str, Any]], labels: list[str]) -> dict[str, float]:
    """Mean Spearman correlation of the word attributions of each pair of methods."""
    out = {}
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            pairs = [(s["attributions"][a], s["attributions"][b]) for s in per_sentence]
            rhos = [rank_correlation(u, v) for u, v in pairs]
            out[f"{a} vs {b}"] = float(np.nanmean(rhos)) if not np.all(np.isnan(rhos)) else float("nan")
    return out


def _tables(metrics: dict[str, Any]) -> list[Table]:
    lines = []
    for label, s in metrics["explainers"].items():
        gap = s.get("completeness_gap", {}).get("max")
        lines.append([label, s["seconds"], gap if gap is not None else "-", s.get("sanity_spearman", "-")])
    tables = [
        Table(
            title="Explainers (sanity: Spearman with a randomized model's attributions; near 0 is good)",
            columns=["explainer", "seconds", "max completeness gap", "sanity Spearman"],
            rows=lines,
        )
    ]
    if metrics["agreement"]:
        tables.append(
            Table(
                title="Agreement between methods (Spearman; agreement is not correctness)",
                columns=["pair", "Spearman"],
                rows=[[k, v] for k, v in metrics["agreement"].items()],
            )
        )
    for s in metrics["sentences"]:
        top = {k: top_words(s["words"], v) for k, v in s["attributions"].items()}
        tables.append(
            Table(
                title=f"{s['text']!r}: {s['target']} ({s['probabilities'][s['target']]:.2f})",
                columns=["explainer", "words that pushed toward the prediction, strongest first"],
                rows=[[k, v] for k, v in top.items()],
            )
        )
    return tables


def top_words(words: list[str], scores: list[float], k: int = 4) -> str:
    order = np.argsort(scores)[::-1][:k]
    return ", ".join(f"{words[i]} ({scores[i]:+.3f})" for i in order if scores[i] > 0) or "-"


def _html(per_sentence: list[dict[str, Any]]) -> str:
    """The sentences with each word's background colored by its attribution (escaped text)."""
    import html

    parts = []
    for s in per_sentence:
        parts.append(f"<h2>{html.escape(s['text'])} &rarr; {html.escape(s['target'])}</h2>")
        for label, scores in s["attributions"].items():
            top = max((abs(v) for v in scores), default=0.0) or 1.0
            spans = "".join(
                f'<span title="{v:+.4f}" style="background: {_color(v / top)}">{html.escape(w)}</span> '
                for w, v in zip(s["words"], scores, strict=True)
            )
            parts.append(f"<p><b>{html.escape(label)}</b>: {spans}</p>")
    legend = "<p>green: toward the predicted class; red: against it; hover for the value</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Token explanations</title>'
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}span{padding:2px}</style>"
        f"</head><body><h1>Token explanations</h1>{legend}{''.join(parts)}</body></html>"
    )


def _color(v: float) -> str:
    """Green for positive, red for negative, alpha by magnitude in [0, 1]."""
    alpha = min(1.0, abs(v))
    return f"rgba(0, 160, 0, {alpha:.2f})" if v >= 0 else f"rgba(220, 0, 0, {alpha:.2f})"
