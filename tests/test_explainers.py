"""Explainers: shapes, hand-checkable values and agreement with Captum."""

from __future__ import annotations

import pytest
import torch
from conftest import needs

from toolkit.explainers.saliency import Saliency


def test_saliency_of_a_linear_model_is_its_weights() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x = torch.rand(2, 3, 2, 2)
    maps = Saliency().explain(model, x, torch.tensor([1, 2]))
    weights = model[1].weight.detach().view(3, 3, 2, 2).abs()
    assert maps.shape == (2, 1, 2, 2)
    assert torch.allclose(maps[0, 0], weights[1].amax(0)) and torch.allclose(maps[1, 0], weights[2].amax(0))
    mean = Saliency(reduce="mean").explain(model, x, torch.tensor([1, 2]))
    assert torch.allclose(mean[0, 0], weights[1].mean(0))


def test_saliency_matches_captum() -> None:
    needs("captum")
    from captum.attr import Saliency as CaptumSaliency

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16, 5)
    )
    x = torch.rand(3, 3, 4, 4)
    targets = torch.tensor([0, 3, 4])
    theirs = CaptumSaliency(model).attribute(x.clone().requires_grad_(True), target=targets, abs=True)
    assert torch.allclose(Saliency().explain(model, x, targets), theirs.amax(1, keepdim=True))


def test_integrated_gradients_completeness_and_grad_cam_shape() -> None:
    needs("captum")
    from toolkit.explainers.captum_adapter import Captum
    from toolkit.explainers.grad_cam import GradCAM
    from toolkit.explainers.integrated_gradients import IntegratedGradients

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 2)
    )
    model.eval()
    x = torch.rand(2, 3, 4, 4)
    targets = torch.tensor([0, 1])
    ig = IntegratedGradients(n_steps=64).explain(model, x, targets)
    with torch.no_grad():
        gain = model(x).gather(1, targets.view(-1, 1)).squeeze(1) - model(torch.zeros_like(x)).gather(
            1, targets.view(-1, 1)
        ).squeeze(1)
    assert torch.allclose(ig.flatten(1).sum(1), gain, atol=1e-2)  # completeness (Sundararajan et al.)
    cam = GradCAM().explain(model, x, targets)
    assert cam.shape == (2, 1, 4, 4) and float(cam.min()) >= 0
    with pytest.raises(Exception, match="no attribution method 'Salincy'"):
        Captum(method="Salincy").explain(model, x, targets)
