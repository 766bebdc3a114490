"""IBM ART's poison detectors on the same representations as ours.

- ``activation_defence``: ART's ``cluster_activations`` (PCA to ``dims``, k-means into
  ``clusters``), the clustering of ``ActivationDefence``, on the features our
  ``activation_clustering`` reads, with its parameters; a cluster under ``size_threshold``
  of its class is poison (the rule of ART's ``analyze_by_relative_size``, applied here
  because that method raises ``ValueError`` in ART 1.20 when a class has no such cluster:
  it tests ``cluster_id in`` an empty array). ART's k-means is not
  seeded: it runs once per seed of NumPy's global generator (0 to ``seeds - 1``) and the
  spread of its recall is reported. (``ActivationDefence``'s default analysis, ``smaller``,
  calls the smaller cluster of *every* class poison; the relative-size rule is the paper's
  and ours.)
- ``spectral_signature``: ``SpectralSignatureDefense.spectral_signature_scores`` per class
  and its cut at the ``1 - multiplier * expected_rate`` quantile. ART projects the features
  on the top singular vector *without* centring them (the paper and ours centre them), so
  its ranking can differ from ours; the agreement of the flags is reported.

- ``poisoning_attack_backdoor``: ART's ``PoisoningAttackBackdoor`` with the perturbation of
  ART that draws the recipe's trigger (``add_pattern_bd`` for ``trigger = "art_pattern"``,
  ``add_single_bd`` for a one-pixel white square; both at the bottom-right corner, at
  ``distance = margin + 1``) on the clean versions of the images our attack poisoned,
  channels-last as ART's helpers assume; it reports how many come out identical to ours.

The detectors return, against the poisoned samples, ``flagged``, ``precision`` and ``recall`` (with
``true_positives`` for ``spectral_signature``; for ``activation_defence``, their mean,
minimum and maximum over the seeds), and the share of
training samples both flag alike (``agreement``) when our filter ran.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from toolkit.defenses.poison_scores import flag_scores

NAMES = ("activation_defence", "spectral_signature", "poisoning_attack_backdoor")


def activation_defence(
    features: np.ndarray, labels: np.ndarray, truth: np.ndarray, *, dims: int, clusters: int,
    size_threshold: float, seeds: int = 5, ours: np.ndarray | None = None,
) -> dict[str, Any]:  # fmt: skip
    """ART's activation clustering, once per seed."""
    from art.defences.detector.poison.activation_defence import cluster_activations

    classes = np.unique(labels)
    runs = []
    for seed in range(seeds):
        np.random.seed(seed)  # ART's KMeans takes no seed: it draws from NumPy's global generator
        separated = [features[labels == c] for c in classes]
        assigned, _ = cluster_activations(separated, nb_clusters=clusters, nb_dims=dims, reduce="PCA")
        flags = np.zeros(len(labels), dtype=bool)
        for c, clusters_of_c in zip(classes, assigned, strict=True):
            sizes = np.bincount(clusters_of_c, minlength=clusters) / len(clusters_of_c)
            flags[labels == c] = sizes[clusters_of_c] < size_threshold  # the relative-size rule
        runs.append((flags, flag_scores(flags, truth)))
    out: dict[str, Any] = {"seeds": seeds}
    for key in ("flagged", "precision", "recall"):
        values = [r[1][key] for r in runs if not np.isnan(r[1][key])]  # precision: none flagged, none
        out[key] = float(np.mean(values)) if values else float("nan")
        out[f"{key}_min"] = float(min(values)) if values else float("nan")
        out[f"{key}_max"] = float(max(values)) if values else float("nan")
    if ours is not None:
        out["agreement"] = float(np.mean([(flags == ours).mean() for flags, _ in runs]))
    return out


def spectral_signature(
    features: np.ndarray, labels: np.ndarray, truth: np.ndarray, *, expected_rate: float, multiplier: float,
    ours: np.ndarray | None = None,
) -> dict[str, Any]:  # fmt: skip
    """ART's spectral-signature scores and cut, per class."""
    from art.defences.detector.poison import SpectralSignatureDefense

    flags = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        score = SpectralSignatureDefense.spectral_signature_scores(features[idx]).ravel()
        cutoff = np.quantile(score, max(1 - multiplier * expected_rate, 0.0))
        flags[idx] = score >= cutoff
    out: dict[str, Any] = flag_scores(flags, truth)
    if ours is not None:
        out["agreement"] = float((flags == ours).mean())
    return out


def art_perturbation(params: dict[str, Any]) -> tuple[str, Callable[[np.ndarray], np.ndarray]] | str:
    """ART's perturbation drawing the trigger of a ``patch_trigger`` with ``params`` (its name
    and the function), or why ART has none."""
    from art.attacks.poisoning.perturbations import add_pattern_bd, add_single_bd

    trigger, size = params.get("trigger", "white_square"), params.get("size", 4)
    position, distance = params.get("position", "bottom_right"), params.get("margin", 0) + 1
    if position != "bottom_right":
        return f"ART's add_pattern_bd and add_single_bd draw at the bottom-right corner, not at {position!r}"
    if trigger == "art_pattern":
        return f"add_pattern_bd(distance={distance})", partial(
            add_pattern_bd, distance=distance, pixel_value=255
        )
    if trigger == "white_square" and size == 1:
        return f"add_single_bd(distance={distance})", partial(
            add_single_bd, distance=distance, pixel_value=255
        )
    return (
        f"ART draws trigger = 'art_pattern' (add_pattern_bd) or a one-pixel white_square (add_single_bd), "
        f"not a {size}x{size} {trigger!r}"
    )


def poisoning_attack_backdoor(
    clean: np.ndarray, ours: np.ndarray, name: str, perturbation: Callable[[np.ndarray], np.ndarray]
) -> dict[str, Any]:
    """ART's ``PoisoningAttackBackdoor`` on ``clean`` images (``uint8``, channels-first),
    compared with ``ours``, the same images as our attack poisoned them."""
    from art.attacks.poisoning import PoisoningAttackBackdoor

    last = np.ascontiguousarray(clean.transpose(0, 2, 3, 1))  # ART's helpers assume channels-last
    art_x, _ = PoisoningAttackBackdoor(perturbation).poison(last, y=np.zeros(len(last)))
    same = (np.asarray(art_x) == ours.transpose(0, 2, 3, 1)).reshape(len(last), -1).all(axis=1)
    return {"perturbation": name, "images": len(last), "identical": int(same.sum())}
