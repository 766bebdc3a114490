"""Synthetic token sequences whose class is learnable: class ``k`` draws its tokens from
its own range of the vocabulary.

Token ids: ``0`` is padding, class ``k`` owns ``1 + k * per_class ... (k + 1) * per_class``,
and the last id (``vocab - 1``) never occurs in the data: it is free for a trigger. Each
sequence has between ``length // 2`` and ``length`` real tokens (``mask`` 1), then padding
(``mask`` 0). A token comes from the sample's class range with probability ``1 - noise``,
else from any class range.
"""

from __future__ import annotations

import torch

from toolkit.data.base import DataBundle, Split, split_holdout
from toolkit.data.domain import Domain

CLASS_NAMES = ["a", "b", "c", "d"]
MODALITY = "text"


def load(
    seed: int,
    *,
    n_per_class: int = 60,
    length: int = 8,
    per_class: int = 6,
    noise: float = 0.3,
    holdout: list[str | int] = [],  # noqa: B006 - read-only default
    test_size: float = 0.3,
) -> DataBundle:
    """Token sequences of four classes ``a`` to ``d``.

    Args:
        seed: seed of the draw and of the split.
        n_per_class: sequences per class (default 60).
        length: tokens per sequence, padding included (default 8).
        per_class: vocabulary ids owned by each class (default 6).
        noise: probability that a token comes from any class's range (default 0.3).
        holdout: classes left out of training (their test samples become the OOD split).
        test_size: fraction of each class in the test split (default 0.3).
    """
    g = torch.Generator().manual_seed(seed)
    k = len(CLASS_NAMES)
    vocab = 1 + k * per_class + 1  # padding, the class ranges, the trigger id
    y = torch.arange(k).repeat_interleave(n_per_class)
    n = len(y)
    own = 1 + y[:, None] * per_class + torch.randint(0, per_class, (n, length), generator=g)
    anywhere = 1 + torch.randint(0, k * per_class, (n, length), generator=g)
    tokens = torch.where(torch.rand(n, length, generator=g) < noise, anywhere, own)
    lengths = torch.randint(length // 2, length + 1, (n,), generator=g).clamp_min(1)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    tokens = tokens * mask
    test = torch.zeros(n, dtype=torch.bool)
    for c in range(k):  # the same fraction of each class in the test split
        members = (y == c).nonzero().flatten()
        picked = members[torch.randperm(len(members), generator=g)[: round(test_size * len(members))]]
        test[picked] = True
    x = {"tokens": tokens, "mask": mask}

    def split(index: torch.Tensor) -> Split:
        return Split({name: part[index] for name, part in x.items()}, y[index])

    bundle = split_holdout(
        name="kinds_tokens",
        modality="text",
        class_names=CLASS_NAMES,
        train=split(~test),
        test=split(test),
        holdout=holdout,
        domain=Domain(0.0, float(vocab - 1), "discrete"),  # token ids 0..vocab-1
    )
    bundle.extras["vocab"] = vocab
    return bundle
