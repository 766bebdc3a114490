"""The feature- and gradient-based OOD detectors, and the pytorch-ood adapter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import needs
from torch import nn

from toolkit.data.synthetic import load
from toolkit.detectors.knn import KNN, knn_score
from toolkit.detectors.mahalanobis import Mahalanobis, fit_gaussians, mahalanobis_score
from toolkit.detectors.max_logit import MaxLogit
from toolkit.detectors.odin import ODIN, odin_score
from toolkit.detectors.vim import ViM
from toolkit.metrics.ood import auroc
from toolkit.models.base import Classifier
from toolkit.outputs import Outputs


class Fixed:
    """Shared outputs given by hand."""

    def __init__(
        self, logits: torch.Tensor, features: torch.Tensor | None = None, y: torch.Tensor | None = None
    ):
        self.logits, self.features, self.y = logits, features, y

    def labels(self) -> torch.Tensor:
        assert self.y is not None
        return self.y


def test_max_logit() -> None:
    out = MaxLogit().fit(None, None).score(None, Fixed(torch.tensor([[1.0, 5.0, 2.0], [0.0, -1.0, -3.0]])))  # type: ignore[arg-type]
    assert out.tolist() == [5.0, 0.0]


def test_mahalanobis_by_hand() -> None:
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0], [0.0, 4.0], [2.0, 4.0], [1.0, 5.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    det = Mahalanobis().fit(None, Fixed(torch.zeros(6, 2), z, y))  # type: ignore[arg-type]
    # means (1, 1/3) and (1, 13/3); tied variances 2/3 (x) and 2/9 (y), no covariance
    point = torch.tensor([[2.0, 1 / 3], [1.0, 2.5]])
    expected = [-(1.0**2) / (2 / 3), -min((2.5 - 1 / 3) ** 2, (2.5 - 13 / 3) ** 2) / (2 / 9)]
    assert det.score(None, Fixed(torch.zeros(2, 2), point)).tolist() == pytest.approx(expected, rel=1e-5)  # type: ignore[arg-type]
    means, precision = fit_gaussians(z, y)
    brute = (
        torch.stack([((point.double() - m) @ precision * (point.double() - m)).sum(1) for m in means])
        .min(0)
        .values
    )
    assert mahalanobis_score(point, means, precision).double().tolist() == pytest.approx((-brute).tolist())


def test_knn_by_hand() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    det = KNN(k=2).fit(None, Fixed(torch.zeros(3, 2), bank * 5))  # type: ignore[arg-type]
    # (1, 1)/sqrt2 is at distance 0.765 from both (1, 0) and (0, 1): the 2nd neighbour too
    d = math.sqrt((1 - 1 / math.sqrt(2)) ** 2 + 0.5)
    assert det.score(None, Fixed(torch.zeros(1, 2), torch.tensor([[3.0, 3.0]]))).tolist() == pytest.approx(
        [-d]
    )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exceeds"):
        knn_score(torch.ones(1, 2), bank, k=4)


def test_odin_without_perturbation_is_tempered_msp() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3)).eval()
    x = torch.randn(5, 4)
    plain = torch.softmax(model(x) / 10.0, dim=1).max(1).values
    assert torch.allclose(odin_score(model, x, temperature=10.0, eps=0.0), plain)
    # a perturbation against the gradient raises the tempered softmax score
    assert (odin_score(model, x, temperature=10.0, eps=0.05) >= plain - 1e-7).all()
    for p in model.parameters():
        assert p.grad is None  # no gradient reached the weights


def test_odin_restores_mode_and_gradients() -> None:
    data = load(0, n_per_class=20)
    torch.manual_seed(0)
    from toolkit.models.mlp import build

    model = build(data.info, hidden=[8]).train()
    scores = ODIN(temperature=2.0, eps=0.01, batch_size=7).score(model, Outputs(model, data.test.x))
    assert scores.shape == (len(data.test),) and model.training
    assert all(p.requires_grad for p in model.parameters()) and all(
        p.grad is None for p in model.parameters()
    )


def test_vim_against_an_independent_computation() -> None:
    torch.manual_seed(0)
    head = nn.Linear(4, 3)
    model = Classifier(nn.Identity(), head)
    train_z = torch.randn(300, 4) * torch.tensor([3.0, 2.0, 0.3, 0.1])
    probe = torch.randn(7, 4) * 2
    det = ViM(dim=2).fit(model, Fixed(head(train_z).detach(), train_z))  # type: ignore[arg-type]
    scores = det.score(model, Fixed(head(probe).detach(), probe))  # type: ignore[arg-type]
    # the same rule with numpy: centre on o = -pinv(W) b, principal subspace by SVD
    w, b = head.weight.detach().double().numpy(), head.bias.detach().double().numpy()
    o = -np.linalg.pinv(w) @ b
    centred = train_z.double().numpy() - o
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    principal = vt[:2]

    def residual(z: np.ndarray) -> np.ndarray:
        c = z - o
        return np.linalg.norm(c - c @ principal.T @ principal, axis=1)

    logits_train = head(train_z).detach().double().numpy()
    alpha = logits_train.max(1).mean() / residual(train_z.double().numpy()).mean()
    logits = head(probe).detach().double().numpy()
    energy = np.log(np.exp(logits).sum(1))
    expected = energy - alpha * residual(probe.double().numpy())
    assert det.alpha == pytest.approx(alpha, rel=1e-6)
    assert scores.double().numpy() == pytest.approx(expected, rel=1e-4, abs=1e-4)


# ---------------------------------------------------------------- the pytorch-ood adapter


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, Outputs, Outputs, Outputs]:
    from toolkit.models.mlp import build
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    data = load(0, n_classes=5, n_per_class=80, holdout=["c4"], separation=2.0)
    torch.manual_seed(0)
    model = build(data.info, hidden=[32, 16])
    train(model, data.train, TrainConfig(epochs=10, lr=0.05, batch_size=32), seed=0)
    assert data.ood is not None
    return (
        model,
        Outputs(model, data.train.x, y=data.train.y),
        Outputs(model, data.test.x, y=data.test.y),
        Outputs(model, data.ood.x),
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "params"),
    [
        ("msp", "MaxSoftmax", {}),
        ("energy", "EnergyBased", {}),
        ("max_logit", "MaxLogit", {}),
        ("mahalanobis", "Mahalanobis", {}),
        ("knn", "KNN", {"k": 5}),
        ("vim", "ViM", {"d": 8}),
        ("odin", "ODIN", {}),
    ],
)
def test_adapter_matches_our_detector(trained: tuple, ours: str, theirs: str, params: dict) -> None:
    needs("pytorch_ood")
    from toolkit.registry import registry

    model, train, test, held = trained
    own_params = {"k": 5} if ours == "knn" else {"dim": 8} if ours == "vim" else {}
    own = registry("detectors").load(ours)(**own_params).fit(model, train)
    adapted = registry("detectors").load("pytorch_ood")(detector=theirs, params=params).fit(model, train)
    a = auroc(own.score(model, test).numpy(), own.score(model, held).numpy())
    b = auroc(adapted.score(model, test).numpy(), adapted.score(model, held).numpy())
    assert a == pytest.approx(b, abs=1e-6), (ours, a, b)
    assert 0.5 < a <= 1.0


def test_adapter_errors() -> None:
    needs("pytorch_ood")
    from toolkit.detectors.pytorch_ood import detector_class
    from toolkit.errors import UsageError

    with pytest.raises(UsageError, match="no detector 'Mahalanobs'") as err:
        detector_class("Mahalanobs")
    assert "Mahalanobis" in str(err.value) and "KNN" in str(err.value)


def test_detectors_share_one_forward_pass(trained: tuple) -> None:
    model, train, test, _ = trained
    detectors = [
        MaxLogit(),
        Mahalanobis().fit(model, train),
        KNN(k=3).fit(model, train),
        ViM(dim=8).fit(model, train),
    ]
    calls = []  # counted from here: the fits above may or may not reuse the training split's pass
    handle = model.backbone.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    try:
        fresh = Outputs(model, test.x, batch_size=4096)
        for det in detectors:
            det.score(model, fresh)
        assert calls == [len(test)]  # logits and features of the split: one pass, read by all four
    finally:
        handle.remove()


def test_pca_detector_flags_off_manifold_inputs() -> None:
    from toolkit.detectors.pca_detector import PCADetector

    torch.manual_seed(0)
    basis = torch.randn(3, 10)
    clean = torch.randn(500, 3) @ basis  # training data on a 3-dimensional subspace
    model = Classifier(nn.Identity(), nn.Linear(10, 2))
    fitted = PCADetector(source="inputs", variance=0.99).fit(model, Outputs(model, clean))
    assert fitted.pca.n_components_ == 3
    on = torch.randn(50, 3) @ basis
    off = on + 0.5 * torch.randn(50, 10)
    s_on = fitted.score(model, Outputs(model, on))
    s_off = fitted.score(model, Outputs(model, off))
    assert float(s_on.abs().max()) < 1e-4 and bool((s_off < -0.1).all())
    assert auroc(s_on.numpy(), s_off.numpy()) == 1.0
