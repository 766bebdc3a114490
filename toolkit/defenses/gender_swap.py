"""Counterfactual data augmentation for gender: training sentences with the gender swapped.

Lu, Mardziel, Wu, Amancharla & Datta, "Gender Bias in Neural Natural Language Processing"
(2018); Zhao et al., "Gender Bias in Coreference Resolution" (NAACL 2018). Of the training
sentences with a gendered word (:func:`toolkit.text.gender.has_gender`), a seeded
``rate`` of them get a copy with every gendered word swapped (he <-> she, his -> her,
her -> his/him by context, man <-> woman, first names; case kept:
:func:`toolkit.text.gender.swap_gender`) and the same label. ``mode = "add"`` keeps the
originals (the data grows); ``"replace"`` puts the copies in their place. A light hand
(small ``rate``) is advised: the swapped copies can cost accuracy.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal

from pydantic import Field

from toolkit.data.base import DataBundle
from toolkit.protocols import DataDefense


class GenderSwap(DataDefense):
    """Counterfactual data augmentation (Lu et al. 2018) on the training sentences.

    Args:
        rate: the fraction of gendered training sentences that get a swapped copy (default 0.5).
        mode: ``"add"`` the copies (default) or ``"replace"`` the originals with them.
        seed: seeds the choice of sentences (default 0).
    """

    modalities = ("text",)

    def __init__(
        self,
        *,
        rate: Annotated[float, Field(gt=0, le=1)] = 0.5,
        mode: Literal["add", "replace"] = "add",
        seed: int = 0,
    ) -> None:
        self.rate, self.mode, self.seed = rate, mode, seed

    def transform(self, bundle: DataBundle) -> DataBundle:
        """The bundle with gender-swapped training sentences (``extras["gender_swap"]`` counts them)."""
        from toolkit.text.bundle import rewrite_train
        from toolkit.text.gender import has_gender, swap_gender

        texts = bundle.train.text or []
        candidates = [i for i, t in enumerate(texts) if has_gender(t)]
        chosen = sorted(random.Random(self.seed).sample(candidates, math.ceil(self.rate * len(candidates))))
        swapped = [swap_gender(texts[i]) for i in chosen]
        out = rewrite_train(bundle, chosen, swapped, mode=self.mode, what="gender_swap")
        out.extras["gender_swap"] = {"gendered": len(candidates), "swapped": len(chosen), "mode": self.mode}
        return out
