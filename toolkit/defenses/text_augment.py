"""Text augmentation as a data hook: training sentences rewritten by an augmenter.

A seeded ``rate`` of the training sentences are rewritten by one augmenter of
:mod:`toolkit.text.augment` (character noise, keyboard typos, word deletion or swaps,
shuffling, synonyms, antonyms, back-translation; Wei & Zou 2019, Belinkov & Bisk 2018,
Sennrich et al. 2016) and added as copies with the same label (``mode = "add"``) or put in
place of the originals (``"replace"``). An augmenter that can flip the label (antonyms)
warns when it is built.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from toolkit.data.base import DataBundle
from toolkit.protocols import DataDefense


class TextAugment(DataDefense):
    """Rewrite a fraction of the training sentences with a text augmenter.

    Args:
        augmenter: its name (``char_noise``, ``keyboard``, ``word_delete``, ``word_swap``,
            ``shuffle``, ``synonym``, ``antonym``, ``back_translation``).
        params: its parameters (e.g. ``{p = 0.1}``).
        rate: the fraction of training sentences rewritten (default 0.3).
        mode: ``"add"`` copies (default) or ``"replace"`` the originals.
        seed: seeds the choice of sentences and the augmenter (default 0).
    """

    modalities = ("text",)
    example_params: ClassVar[dict[str, Any]] = {"augmenter": "word_delete", "params": {"p": 0.2}}

    def __init__(
        self,
        *,
        augmenter: str,
        params: dict[str, Any] = {},  # noqa: B006 - read-only default
        rate: Annotated[float, Field(gt=0, le=1)] = 0.3,
        mode: Literal["add", "replace"] = "add",
        seed: int = 0,
    ) -> None:
        from toolkit.text.augment import make_augmenter

        self.augmenter = make_augmenter(augmenter, **params)  # a bad name or parameter fails here
        self.name, self.rate, self.mode, self.seed = augmenter, rate, mode, seed

    def transform(self, bundle: DataBundle) -> DataBundle:
        """The bundle with augmented training sentences (``extras["text_augment"]`` counts them)."""
        from toolkit.text.bundle import rewrite_train

        texts = bundle.train.text or []
        rng = random.Random(self.seed)
        chosen = sorted(rng.sample(range(len(texts)), math.ceil(self.rate * len(texts))))
        rewritten = self.augmenter.augment([texts[i] for i in chosen], rng)
        out = rewrite_train(bundle, chosen, rewritten, mode=self.mode, what="text_augment")
        changed = sum(a != texts[i] for a, i in zip(rewritten, chosen, strict=True))
        out.extras["text_augment"] = {"augmenter": self.name, "chosen": len(chosen), "changed": changed}
        return out
