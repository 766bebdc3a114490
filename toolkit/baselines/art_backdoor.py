"""The backdoor task's cross-check in IBM ART: its poison detectors on the representations our
filters read, and its backdoor attack on the images ours poisoned
(:mod:`toolkit.baselines.art_poison` holds the library calls)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from toolkit.errors import Problem
from toolkit.outputs import Outputs
from toolkit.results import Table

#: ART's detector -> the toolkit filter whose representations and parameters it shares.
OURS = {"activation_defence": "activation_clustering", "spectral_signature": "spectral_signature"}


def mask(index: list[int], n: int) -> np.ndarray:
    """A boolean mask of ``n`` samples, true at ``index``."""
    out = np.zeros(n, dtype=bool)
    out[np.asarray(index, dtype=np.int64)] = True
    return out


def compare_filters(
    train: Outputs,
    index: torch.Tensor,
    *,
    requested: list[str],
    filters: Mapping[str, tuple[str, dict[str, Any]]],
    flagged: Mapping[str, list[int]],
    images: tuple[np.ndarray, np.ndarray] | None,
    attack_params: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """ART's activation defence and spectral signatures, and its backdoor attack.

    Args:
        train: the poisoned model's outputs on the training set it was trained on.
        index: the indices of the poisoned training samples.
        requested: the ART baselines asked for.
        filters: per toolkit filter name, its label in the recipe and its parameters (ART
            reads the same layer, with the same parameters where they have a counterpart).
        flagged: per filter label, what our filter flagged (for the agreement).
        images: the clean and the poisoned versions of the poisoned training images
            (``poisoning_attack_backdoor`` only).
        attack_params: the recipe's poisoning attack's parameters (its trigger).
        log: where each result is reported.
    """
    from toolkit.baselines import art_poison

    labels = train.labels().numpy()
    truth = mask(index.tolist(), len(labels))
    out: dict[str, Any] = {}
    for name in requested:
        if name == "poisoning_attack_backdoor":
            assert images is not None
            found = art_poison.art_perturbation(attack_params)
            assert not isinstance(found, str), found  # refused when the recipe was checked
            out[name] = art_poison.poisoning_attack_backdoor(images[0], images[1], *found)
            log(f"ART {name}: {out[name]['identical']} of {out[name]['images']} images identical")
            continue
        label, p = filters.get(OURS[name], ("", {}))
        ours = mask(flagged[label], len(labels)) if label in flagged else None
        features = train.layer(p.get("layer", "features")).flatten(1).double().numpy()  # ours' layer
        if name == "activation_defence":
            out[name] = art_poison.activation_defence(
                features, labels, truth, dims=p.get("dims", 10), clusters=p.get("clusters", 2),
                size_threshold=p.get("size_threshold", 0.35), ours=ours,
            )  # fmt: skip
        else:
            out[name] = art_poison.spectral_signature(
                features, labels, truth, expected_rate=p.get("expected_rate", 0.1),
                multiplier=p.get("multiplier", 1.5), ours=ours,
            )  # fmt: skip
        log(f"ART {name}: recall {out[name]['recall']:.3f}")
    return out


def check_attack(spec: Any) -> list[Problem]:
    """ART's backdoor attack reproduces patch triggers only, and only those ART can draw."""
    from toolkit.baselines.art_poison import art_perturbation

    where = "baselines.art"
    if spec.name not in ("patch_trigger", "adversarial_embedding"):
        return [Problem(where, f"poisoning_attack_backdoor reproduces a patch trigger, not '{spec.name}'")]
    found = art_perturbation(spec.params)
    return [Problem(where, f"poisoning_attack_backdoor: {found}")] if isinstance(found, str) else []


def table(art: dict[str, Any], poisons: int) -> Table:
    """ART's results against the poisoned training images."""
    rows = []
    for name, r in art.items():
        if "perturbation" in r:
            same = f"{r['identical']} of {r['images']} poisoned images"
            rows.append([f"{name}: {r['perturbation']}", "", "", "", same])
            continue
        spread = (
            f" ({r['recall_min']:.3f}-{r['recall_max']:.3f} over {r['seeds']} seeds)" if "seeds" in r else ""
        )
        rows.append(
            [name, r["flagged"], r["precision"], f"{r['recall']:.4f}{spread}", r.get("agreement", "")]
        )
    return Table(
        title=f"IBM ART on the same features and images, against the {poisons} poisoned training images",
        columns=["ART", "flagged", "precision", "recall", "same flags as ours"],
        rows=rows,
    )
