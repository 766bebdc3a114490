"""Back-translation: paraphrases through a pivot language with two MarianMT models.

After Sennrich, Haddow & Birch, "Improving Neural Machine Translation Models with
Monolingual Data", ACL 2016. :class:`BackTranslation` (``back_translation``) translates each
text into the pivot language and back, by default English -> German -> English with
``Helsinki-NLP/opus-mt-en-de`` and ``Helsinki-NLP/opus-mt-de-en``, greedy decoding
(``num_beams = 1``), batches of 16, at most 128 tokens, on the CPU, and from local files
only (``allow_download = false``). It needs transformers (the ``text`` extra) and, for
MarianMT tokenizers, sentencepiece.

Example:
    >>> import random
    >>> BackTranslation().augment(["", "  "], random.Random(0))  # blank texts: nothing loaded
    ['', '  ']
"""

from __future__ import annotations

import importlib.util
import random
from typing import Any

from toolkit.errors import UsageError
from toolkit.text.augment.base import Augmenter, at_least


class BackTranslation(Augmenter):
    """Paraphrases by translating to a pivot language and back (Sennrich et al., ACL 2016).

    Two sequence-to-sequence checkpoints (MarianMT by default, loaded with the transformers
    Auto classes) are loaded on first use. Decoding is greedy (``num_beams = 1``) or beam
    search, in batches under ``torch.inference_mode``, so the result does not depend on
    ``rng``. Blank texts, and texts whose round trip comes back empty, are unchanged. The
    output is whatever the backward model writes (usually cased, detokenized text).

    Args:
        forward: the checkpoint (a Hugging Face Hub name or a local folder) into the pivot language.
        backward: the checkpoint from the pivot language back.
        allow_download: fetch checkpoints that are not in the local Hugging Face cache
            (default false: local files only, no network).
        batch_size: texts translated at once.
        max_length: the longest input and output, in tokens (longer inputs are truncated).
        num_beams: 1 for greedy decoding, more for beam search.
        device: the torch device that runs the models.
    """

    name = "back_translation"

    def __init__(
        self,
        *,
        forward: str = "Helsinki-NLP/opus-mt-en-de",
        backward: str = "Helsinki-NLP/opus-mt-de-en",
        allow_download: bool = False,
        batch_size: int = 16,
        max_length: int = 128,
        num_beams: int = 1,
        device: str = "cpu",
    ) -> None:
        self.forward = str(forward)
        self.backward = str(backward)
        self.allow_download = bool(allow_download)
        self.batch_size = at_least("batch_size", batch_size, 1)
        self.max_length = at_least("max_length", max_length, 1)
        self.num_beams = at_least("num_beams", num_beams, 1)
        self.device = str(device)
        self._models: dict[str, tuple[Any, Any]] = {}

    def augment(self, texts: list[str], rng: random.Random) -> list[str]:
        """Back-translate each of ``texts`` (``rng`` is not used: decoding is deterministic)."""
        todo = [i for i, text in enumerate(texts) if text.strip()]
        out = list(texts)
        if not todo:
            return out
        pivot = self.translate([texts[i] for i in todo], self.forward)
        for i, text in zip(todo, self.translate(pivot, self.backward), strict=True):
            if text.strip():
                out[i] = text
        return out

    def translate(self, texts: list[str], checkpoint: str) -> list[str]:
        """Translate ``texts`` with ``checkpoint``, in batches of texts of similar length."""
        import torch

        tokenizer, model = self._load(checkpoint)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = [""] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                inputs = tokenizer(
                    [texts[i] for i in batch],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                ).to(self.device)
                generated = model.generate(
                    **inputs, max_length=self.max_length, num_beams=self.num_beams, do_sample=False
                )
                decoded = tokenizer.batch_decode(generated, skip_special_tokens=True)
                for i, text in zip(batch, decoded, strict=True):
                    out[i] = " ".join(text.split())
        return out

    def _load(self, checkpoint: str) -> tuple[Any, Any]:
        """The tokenizer and model of ``checkpoint``, loaded once; a clear error when missing."""
        if checkpoint in self._models:
            return self._models[checkpoint]
        try:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:
            raise UsageError(
                "back_translation needs transformers: pip install 'trustworthy-ml-toolkit[text]'"
            ) from exc
        local = not self.allow_download
        try:
            tokenizer = AutoTokenizer.from_pretrained(checkpoint, local_files_only=local)
            model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint, local_files_only=local)
        except (OSError, ValueError, ImportError) as exc:
            raise UsageError(_load_failure(checkpoint, local, exc)) from exc
        model.to(self.device).eval()
        self._models[checkpoint] = (tokenizer, model)
        return tokenizer, model


def _load_failure(checkpoint: str, local: bool, exc: BaseException) -> str:
    """The message for a translation checkpoint that could not be loaded."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    message = f"back_translation: cannot load the translation model '{checkpoint}' ({reason})."
    if local:
        message += (
            " It is not a local folder nor in the local Hugging Face cache, and downloads are off: "
            "set allow_download = true when online to fetch it once, or give the path of a local "
            "folder that holds the model and its tokenizer."
        )
    else:
        message += " Check the name on the Hugging Face Hub and the connection, or give a local folder."
    if importlib.util.find_spec("sentencepiece") is None:
        message += " MarianMT tokenizers also need sentencepiece: pip install sentencepiece."
    return message
