"""The example plugin passes the toolkit's conformance checks for detectors."""

import math

import torch
from toolkit_plugin_example.entropy import Entropy, entropy_score

from toolkit.testing import check_detector


def test_uniform_logits_have_minus_log_k() -> None:
    scores = entropy_score(torch.zeros(3, 4))
    assert torch.allclose(scores, torch.full((3,), -math.log(4)))


def test_confident_logits_score_higher() -> None:
    scores = entropy_score(torch.tensor([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    assert scores[0] > scores[1]


def test_conformance() -> None:
    check_detector(Entropy)
