"""A Hugging Face transformer for sequence classification, on token ids and attention masks.

Any ``AutoModelForSequenceClassification`` checkpoint (Wolf et al., "Transformers:
State-of-the-Art Natural Language Processing", EMNLP 2020 demos): a hub name (default
``distilbert-base-uncased``, Sanh et al. 2019), a local folder, or a folder name under
``$TOOLKIT_DATA/models`` (``all-MiniLM-L6-v2`` in ``../shared/data/models``). A checkpoint
without a classification head for this data's classes (a plain encoder, or another
number of labels) gets a new one, initialized from the recipe's seed.

The model takes the mapping ``{"input_ids", "attention_mask"}`` and returns logits
``(N, K)``. ``forward_features`` returns what the final linear layer of the head reads
(the pooled sentence vector, for feature-based detectors and poison filters) and
``head`` is that layer. Weights are read from local files only unless
``allow_download`` is true, and the data must be tokenized by this checkpoint's tokenizer.

``pooling = "mean"`` replaces the checkpoint's own sentence vector (BERT's ``[CLS]`` pooler,
DistilBERT's first token) by the mean of the last layer's token vectors over the attention
mask, ``f = sum_t m_t h_t / sum_t m_t``, followed by dropout and the head's last linear
layer: the pooling sentence-transformers checkpoints (all-MiniLM-L6-v2) were trained with
(Reimers & Gurevych, "Sentence-BERT", EMNLP 2019).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from toolkit.data.base import DataInfo
from toolkit.errors import UsageError


class TextClassifier(nn.Module):
    """A sequence classifier with the toolkit's classifier interface.

    Args:
        model: the ``transformers`` model (``...ForSequenceClassification``).
        checkpoint: where it came from (hub name or folder): explainers load its tokenizer.
        max_length: tokens per input at most (longer inputs are cut), or ``None``.
    """

    def __init__(
        self, model: nn.Module, *, checkpoint: str, max_length: int | None = None, pooling: str = "model"
    ) -> None:
        super().__init__()
        self.hf = model
        self.checkpoint = checkpoint
        self.max_length = max_length
        self.pooling = pooling
        # the head's output layer, reachable as ``head`` without entering the state dict twice
        self.__dict__["head"] = _final_linear(model)
        if pooling == "mean":
            config = getattr(model, "config", None)
            self.dropout = nn.Dropout(float(getattr(config, "hidden_dropout_prob", None) or 0.1))

    def embeddings(self) -> nn.Module:
        """The input (token) embedding layer: where integrated gradients integrates."""
        return self.hf.get_input_embeddings()  # type: ignore[operator]

    def _inputs(self, x: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = x["input_ids"], x.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask
        if self.max_length is not None:
            ids, mask = ids[:, : self.max_length], mask[:, : self.max_length]
        return ids, mask

    def _run(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = self._inputs(x)
        return self.hf(input_ids=ids, attention_mask=mask).logits

    def _mean(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The mean of the last layer's token vectors over the attention mask."""
        ids, mask = self._inputs(x)
        hidden = self.hf.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # type: ignore[operator]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)

    def forward(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(N, K)``."""
        if self.pooling == "mean":
            return self.__dict__["head"](self.dropout(self._mean(x)))
        return self._run(x)

    def forward_features(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The input of the final linear layer ``(N, F)``: the pooled sentence representation."""
        if self.pooling == "mean":
            return self._mean(x)
        captured: list[torch.Tensor] = []
        head: nn.Module = self.__dict__["head"]
        handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            self._run(x)
        finally:
            handle.remove()
        return captured[-1]


def build(
    info: DataInfo,
    *,
    checkpoint: str = "distilbert-base-uncased",
    max_length: Annotated[int, Field(ge=4, le=4096)] | None = None,
    freeze: Literal["none", "encoder"] = "none",
    pooling: Literal["model", "mean"] = "model",
    allow_download: bool = False,
) -> TextClassifier:
    """Load ``checkpoint`` with a classification head for the data's classes.

    Args:
        info: the data's description; its token ids must come from this checkpoint's tokenizer.
        checkpoint: hub name, folder, or folder name under ``$TOOLKIT_DATA/models``
            (default ``distilbert-base-uncased``).
        max_length: tokens per input at most (default: as the data were tokenized; a recipe's
            dataset takes this value when it sets none).
        freeze: ``"encoder"`` trains the classification head only (default ``"none"``: all).
        pooling: ``"model"``: the checkpoint's own sentence vector and head (default);
            ``"mean"``: the masked mean of the last layer, then the head's last linear layer.
        allow_download: fetch missing files from the hub (default false: local files only).
    """
    from toolkit.text.tokens import locate

    if info.modality != "text" or info.tokenizer is None:
        raise UsageError(
            f"model hf_text needs tokenized text data, but '{info.name}' is {info.modality} data; "
            "use a text data set (glue_cola, text_csv)"
        )
    _check_tokenizer(info, checkpoint, allow_download)
    source = locate(checkpoint)
    model = _load(source, checkpoint, list(info.class_names), allow_download)
    vocab = int(getattr(model.config, "vocab_size", 0) or 0)
    if info.vocab_size is not None and vocab and info.vocab_size > vocab:
        raise UsageError(
            f"model hf_text: the data's tokenizer ({info.tokenizer}) has {info.vocab_size} ids but "
            f"'{checkpoint}' embeds {vocab}; tokenize with the model's tokenizer"
        )
    if freeze == "encoder":
        encoder: nn.Module = model.base_model
        for p in encoder.parameters():
            p.requires_grad_(False)
    out = TextClassifier(model, checkpoint=source, max_length=max_length, pooling=pooling)
    width = int(getattr(model.config, "hidden_size", 0) or 0)
    reads = _final_linear(model).in_features
    if pooling == "mean" and width and reads != width:
        raise UsageError(
            f'model hf_text: pooling = "mean" needs a head that reads {width} features; the last '
            f"linear layer of '{checkpoint}' reads {reads}; use pooling = \"model\""
        )
    return out


build.modalities = ("text",)  # type: ignore[attr-defined]  # refused for other data by `toolkit validate`


def files_key(params: Mapping[str, Any]) -> str:
    """What identifies the checkpoint's files, for the cache key of a model trained from it:
    a local folder's file names and contents (SHA-256); for a hub name, the revision
    in the Hugging Face cache (or the name alone when nothing is cached yet). Replacing the
    weights under the same name then retrains."""
    import hashlib
    import json
    from pathlib import Path

    from toolkit.text.tokens import folder_stamp, locate

    source = locate(str(params.get("checkpoint") or "distilbert-base-uncased"))
    folder = Path(source)
    if folder.is_dir():
        return hashlib.sha256(json.dumps(folder_stamp(folder)).encode()).hexdigest()
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(source, "config.json")
    except Exception:  # an invalid repository name, say: the name alone identifies it
        found = None
    return f"hub:{source}@{Path(found).parent.name}" if isinstance(found, str) else f"hub:{source}"


build.files_key = files_key  # type: ignore[attr-defined]  # read by the pipeline's train stage


def _load(source: str, checkpoint: str, names: list[str], allow_download: bool) -> Any:
    """The checkpoint with a head for ``names``, quietly (a new head is expected, not news)."""
    from toolkit.text.tokens import missing_checkpoint

    try:
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging as hf_logging
    except ImportError as exc:  # pragma: no cover - the text extra is missing
        raise UsageError(
            "model hf_text needs transformers: pip install 'trustworthy-ml-toolkit[text]'"
        ) from exc
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True,
            local_files_only=not allow_download,
        )  # fmt: skip
    except (OSError, ValueError) as exc:
        raise UsageError(missing_checkpoint(checkpoint, "model.checkpoint", exc)) from exc
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _check_tokenizer(info: DataInfo, checkpoint: str, allow_download: bool) -> None:
    """Refuse data tokenized by another tokenizer than ``checkpoint``'s (when it has one)."""
    from toolkit.errors import DataError
    from toolkit.text.tokens import load_tokenizer, tokenizer_digest

    if info.tokenizer == checkpoint:
        return
    try:
        ours = load_tokenizer(checkpoint, allow_download=allow_download, what="model.checkpoint")
    except DataError:
        return  # a checkpoint without tokenizer files: the vocabulary size is still checked
    theirs = load_tokenizer(str(info.tokenizer), allow_download=allow_download)
    if tokenizer_digest(ours) != tokenizer_digest(theirs):
        raise UsageError(
            f"model hf_text: the data were tokenized by '{info.tokenizer}', whose tokenizer differs "
            f"from the one of '{checkpoint}'; leave dataset.tokenizer out (it then takes the model's "
            "checkpoint) or set it to the same checkpoint"
        )


def _final_linear(model: nn.Module) -> nn.Linear:
    """The last linear layer of the model: the classification head's output layer."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UsageError("model hf_text: the checkpoint has no linear classification layer")
    return linears[-1]
