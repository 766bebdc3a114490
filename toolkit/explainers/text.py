"""What the text explainers share: the tokenizer, sentences from token ids, batched
predictions, and per-token attributions placed back on the input's positions.

A text explainer's ``explain(model, inputs, targets)`` takes the stored token inputs
``{"input_ids", "attention_mask"}`` ``(N, L)`` and returns attributions ``(N, L)``: one value
per token (special tokens included), zero on padding. Perturbation methods (SHAP, LIME)
work on the sentences the ids decode to, with the same tokenizer's segmentation, so each
of their features is one of the model's tokens; the decoded sentence must tokenize back to
the same ids (checked).

Example:
    >>> import torch
    >>> place([[0.5, -1.0]], torch.tensor([[1, 1, 0]])).tolist()
    [[0.5, -1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from toolkit.errors import UsageError


def text_tokenizer(info_tokenizer: str | None, model: nn.Module, what: str) -> Any:
    """The fast tokenizer of the data (``DataInfo.tokenizer``), else the model's checkpoint."""
    from toolkit.text.tokens import load_tokenizer

    name = info_tokenizer or getattr(model, "checkpoint", None)
    if not name:
        raise UsageError(f"explainer {what} needs text data tokenized by a known tokenizer")
    return load_tokenizer(name)


_Bound = TypeVar("_Bound", bound="TokenExplainer")


class Complete:
    """An explainer that promises completeness: ``sum(attributions) = f_c(x) - f_c(baseline)``.

    After :meth:`explain` it sets ``completeness_`` (the gap per input) and ``base_`` (the
    baseline's probability of the target class); :meth:`completeness` reports them.
    """

    completeness_: torch.Tensor | None = None
    base_: torch.Tensor | None = None

    def completeness(self) -> dict[str, torch.Tensor]:
        """The completeness of the last ``explain`` call: ``gap``
        ``|sum(attributions) - (f_c(x) - f_c(baseline))|`` and ``baseline`` the baseline's
        probability of the target class, one per input (empty before a call, or for images)."""
        if self.completeness_ is None or self.base_ is None:
            return {}
        return {"gap": self.completeness_, "baseline": self.base_}


class TokenExplainer:
    """What the text explainers share: the data's tokenizer (named by ``bind(info)``, else
    the model's checkpoint) and, for perturbation methods, the sentences behind the ids."""

    tokenizer_name: str | None = None

    def bind(self: _Bound, info: Any) -> _Bound:
        self.tokenizer_name = info.tokenizer
        return self

    def tokenizer(self, model: nn.Module, what: str) -> Any:
        """The tokenizer the explained inputs were made with."""
        return text_tokenizer(self.tokenizer_name, model, what)

    def prepare(
        self, model: nn.Module, inputs: Any, what: str
    ) -> tuple[Mapping[str, torch.Tensor], Any, list[str]]:
        """The token inputs, the tokenizer and the sentences the ids stand for."""
        tokens = need_tokens(inputs, what)
        tokenizer = self.tokenizer(model, what)
        return tokens, tokenizer, sentences(tokenizer, tokens, what)


def need_tokens(inputs: Any, what: str) -> Mapping[str, torch.Tensor]:
    """``inputs`` as token inputs, or a usage error."""
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        raise UsageError(f"explainer {what} explains text (token ids and attention masks), not tensors")
    return inputs


def lengths(inputs: Mapping[str, torch.Tensor]) -> list[int]:
    """Tokens per sequence (the attention mask's sum; the full width without a mask)."""
    mask = inputs.get("attention_mask")
    if mask is None:
        return [int(inputs["input_ids"].shape[1])] * int(inputs["input_ids"].shape[0])
    return [int(n) for n in mask.sum(dim=1)]


def sentences(tokenizer: Any, inputs: Mapping[str, torch.Tensor], what: str) -> list[str]:
    """The sentences the token ids stand for (unknown words as the unknown token); each must
    tokenize back to the same ids."""
    out = []
    frame = {getattr(tokenizer, f"{t}_token_id", None) for t in ("cls", "sep", "pad", "bos", "eos")} - {None}
    for row, n in zip(inputs["input_ids"].tolist(), lengths(inputs), strict=True):
        ids = row[:n]
        # the framing tokens go (the tokenizer adds them again); unknown-word tokens stay
        kept = [i for i in ids if i not in frame]
        text = tokenizer.decode(kept, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        again = tokenizer(text)["input_ids"]
        if again != ids:
            raise UsageError(
                f"explainer {what}: the tokens of {text!r} do not survive decoding and re-encoding "
                "(the tokenizer normalizes differently), so word-level perturbations cannot be mapped "
                "back to them; use integrated_gradients for this tokenizer"
            )
        out.append(text)
    return out


class Predictor:
    """``texts -> class probabilities (N, K)`` through the model, in chunks of ``batch_size``
    sentences (bounded memory however many perturbations an explainer asks for)."""

    def __init__(
        self, model: nn.Module, tokenizer: Any, *, batch_size: int = 64, max_length: int = 512
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self.device = next(model.parameters()).device

    def __call__(self, texts: Sequence[str] | np.ndarray) -> np.ndarray:
        from toolkit.text.tokens import encode

        texts = [str(t) for t in texts]
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = encode(
                    self.tokenizer, texts[start : start + self.batch_size], max_length=self.max_length
                )
                logits = self.model({k: v.to(self.device) for k, v in batch.items()})
                parts.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0))


def place(values: Sequence[Sequence[float]], mask: torch.Tensor) -> torch.Tensor:
    """Per-token values of each sequence on its positions ``(N, L)``, zero on padding."""
    out = torch.zeros(mask.shape, dtype=torch.float32)
    for i, row in enumerate(values):
        out[i, : len(row)] = torch.as_tensor(np.asarray(row, dtype=np.float32))
    return out


def merge_words(
    tokens: Sequence[str], values: Sequence[float], special: set[str]
) -> tuple[list[str], list[float]]:
    """Sub-word tokens joined into words, their attributions summed; special tokens dropped.

    A token continues the previous word when it starts with ``##`` (WordPiece); a word
    starts with ``▁`` (SentencePiece) or ``Ġ`` (byte-level BPE) in those schemes.

    Example:
        >>> merge_words(["[CLS]", "un", "##like", "##ly", "!"], [0, 1.0, 2.0, 0.5, 1.0], {"[CLS]"})
        (['unlikely', '!'], [3.5, 1.0])
    """
    words: list[str] = []
    scores: list[float] = []
    starts = any(t.startswith(("▁", "Ġ")) for t in tokens)
    for token, value in zip(tokens, values, strict=True):
        if token in special:
            continue
        cont = token.startswith("##") or (starts and words and not token.startswith(("▁", "Ġ")))
        if cont and words:
            words[-1] += token[2:] if token.startswith("##") else token
            scores[-1] += float(value)
        else:
            words.append(token.lstrip("▁Ġ"))
            scores.append(float(value))
    return words, scores
