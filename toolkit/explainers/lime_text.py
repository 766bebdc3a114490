"""LIME weights of tokens: a sparse linear model fitted to the model's answers on perturbed
sentences.

Ribeiro, Singh & Guestrin, "Why Should I Trust You?": Explaining the Predictions of Any
Classifier", KDD 2016; lime's ``LimeTextExplainer``. Each feature is one of the model's
tokens (the tokenizer's segmentation, special tokens excluded); a perturbation replaces a
random subset of them by the mask token; the explanation ``g`` minimizes

    sum_z pi_x(z) (P(c | z) - g(z))^2 + Omega(g)

with an exponential kernel ``pi_x`` on the cosine distance (width 25) and ``num_features``
weights at most. Predictions are made in chunks of ``batch_size`` sentences, so a large
``num_samples`` does not exhaust memory. LIME weights are not additive attributions: they
carry no completeness guarantee.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from toolkit.errors import UsageError
from toolkit.explainers.text import Predictor, TokenExplainer, lengths, place
from toolkit.modelstate import eval_mode


class Lime(TokenExplainer):
    """LIME (Ribeiro et al. 2016) over tokens, on class probabilities.

    Args:
        num_samples: perturbed sentences per explanation (default 1000).
        num_features: tokens with a weight at most (default 40).
        batch_size: sentences per forward pass (default 64).
        seed: seeds the perturbations (default 0).
    """

    modalities: ClassVar[tuple[str, ...]] = ("text",)

    def __init__(
        self,
        *,
        num_samples: Annotated[int, Field(ge=10)] = 1000,
        num_features: Annotated[int, Field(ge=1)] = 40,
        batch_size: Annotated[int, Field(ge=1)] = 64,
        seed: int = 0,
    ) -> None:
        self.num_samples, self.num_features = num_samples, num_features
        self.batch_size, self.seed = batch_size, seed

    def explain(self, model: nn.Module, inputs: Any, targets: torch.Tensor) -> torch.Tensor:
        """Per-token LIME weights ``(N, L)`` for each sentence's target class (0 on special
        tokens and padding)."""
        try:
            from lime.lime_text import LimeTextExplainer
        except ImportError as exc:  # pragma: no cover - the explain extra is missing
            raise UsageError(
                "explainer lime needs lime: pip install 'trustworthy-ml-toolkit[explain]'"
            ) from exc
        tokens, tokenizer, texts = self.prepare(model, inputs, "lime")
        rows = []
        with eval_mode(model):
            predict = Predictor(model, tokenizer, batch_size=self.batch_size)
            for text, n, c in zip(texts, lengths(tokens), targets.tolist(), strict=True):
                spans = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
                pieces = [(a, b) for a, b in spans["offset_mapping"] if b > a]
                explainer = LimeTextExplainer(
                    split_expression=lambda s, p=pieces: [s[a:b] for a, b in p],
                    bow=False, mask_string=tokenizer.mask_token or tokenizer.unk_token,
                    random_state=self.seed,
                )  # fmt: skip
                found = explainer.explain_instance(
                    text, predict, labels=(c,), num_features=self.num_features, num_samples=self.num_samples
                )
                weights = dict(found.as_map()[c])
                row, k = [0.0] * n, 0
                for position, (a, b) in enumerate(spans["offset_mapping"][:n]):
                    if b > a:
                        row[position] = float(weights.get(k, 0.0))
                        k += 1
                rows.append(row)
        return place(rows, tokens["attention_mask"])
