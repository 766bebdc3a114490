"""SHAP values of tokens: shap's Partition explainer with a Text masker.

Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017; the
Partition explainer computes Owen values over a hierarchical clustering of the tokens
(shap's ``PartitionExplainer``). For a sentence ``x`` with tokens ``t_1..t_n`` and target
class ``c``, the values ``phi_i`` satisfy completeness exactly:

    sum_i phi_i = P(c | x) - P(c | all tokens masked)

Masked tokens are replaced by the tokenizer's mask token; the model is called through
:class:`toolkit.explainers.text.Predictor` (our own batched prediction function, several
times faster than shap's pipeline path). ``max_evals`` (default 500) bounds the model calls
per sentence. The first call in a process pays shap's compilation (several seconds).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from toolkit.errors import UsageError
from toolkit.explainers.text import Complete, Predictor, TokenExplainer, lengths, place
from toolkit.modelstate import eval_mode


class Shap(Complete, TokenExplainer):
    """SHAP (Lundberg & Lee 2017) Partition explainer over tokens, on class probabilities.

    Args:
        max_evals: model calls per sentence at most (default 500).
        batch_size: sentences per forward pass (default 64).

    After :meth:`explain`, ``completeness_`` holds ``|sum(phi) + base - P(c|x)|`` per sentence
    and ``base_`` the fully masked sentence's probability of the target class.
    """

    modalities: ClassVar[tuple[str, ...]] = ("text",)

    def __init__(
        self, *, max_evals: Annotated[int, Field(ge=10)] = 500, batch_size: Annotated[int, Field(ge=1)] = 64
    ) -> None:
        self.max_evals, self.batch_size = max_evals, batch_size
        self.completeness_: torch.Tensor | None = None
        self.base_: torch.Tensor | None = None

    def explain(self, model: nn.Module, inputs: Any, targets: torch.Tensor) -> torch.Tensor:
        """Per-token SHAP values ``(N, L)`` of each sentence for its target class."""
        try:
            import shap
        except ImportError as exc:  # pragma: no cover - the explain extra is missing
            raise UsageError(
                "explainer shap needs shap: pip install 'trustworthy-ml-toolkit[explain]'"
            ) from exc
        tokens, tokenizer, texts = self.prepare(model, inputs, "shap")
        with eval_mode(model):
            predict = Predictor(model, tokenizer, batch_size=self.batch_size)
            explainer = shap.Explainer(predict, shap.maskers.Text(tokenizer), algorithm="partition")
            found = explainer(texts, max_evals=self.max_evals, silent=True)
            probs = predict(texts)
        rows, gaps, bases = [], [], []
        for i, (n, c) in enumerate(zip(lengths(tokens), targets.tolist(), strict=True)):
            values = found.values[i][:, c]
            if len(values) != n:
                raise UsageError(f"explainer shap: {len(values)} values for {n} tokens of {texts[i]!r}")
            rows.append(values)
            base = float(found.base_values[i][c])
            bases.append(base)
            gaps.append(abs(float(values.sum()) + base - float(probs[i, c])))
        self.completeness_, self.base_ = torch.tensor(gaps), torch.tensor(bases)
        return place(rows, tokens["attention_mask"])
