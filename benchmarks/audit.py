"""The audit against running the same checks one library at a time, on one model and the
same samples, in one process.

The model is the quickstart's small CNN on the bundled digits, 9s held out (the
``audit_quickstart`` recipe), trained here first. Both sides do the same work:

- **the audit**: ``toolkit.run`` of the audit recipe with the model given, every check but
  the backdoor scan (its Neural Cleanse is the toolkit's own on both sides: IBM ART's runs
  on Keras models only), with the report, figures and model card written;
- **one library at a time**, as per-library notebooks do it: a test-split pass for
  accuracy and torchmetrics' calibration error; torchattacks' AutoAttack (standard, 8/255),
  PGD-20 at four budgets, FGSM and Square (1,000 queries) on the same 200 seeded test
  images; pytorch-ood's MSP, MaxLogit, Energy, Mahalanobis, KNN and ViM, each fitted and
  scored with its own forward passes over the training, test and held-out images; captum's
  saliency and integrated gradients on the same 8 images for the trained and a randomized
  model.

The audit does more than the sum of the libraries: the sanity checks of the evaluation (a
large-budget PGD, the input gradients, AutoAttack's own checks), temperature scaling, the
sampling noise of the ECE, the figures, the report and the model card. Times are medians of
``--repeats`` runs on one thread; the ratio is what to read.

    python benchmarks/audit.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import toolkit
from toolkit.data.inputs import to_model_input
from toolkit.execution.cache import ArtifactCache
from toolkit.execution.log import RunLog
from toolkit.execution.pipeline import Pipeline
from toolkit.explainers.sanity import randomized_weights
from toolkit.recipe import load_recipe

#: The audit_quickstart recipe's data set.
DATASET = {"name": "digits", "holdout": ["9"], "test_size": 0.3}
CHECKS = ["performance", "calibration", "robustness", "ood", "fairness", "explanations"]


def trained(folder: Path) -> tuple[nn.Module, Any]:
    recipe = load_recipe("audit_quickstart")
    pipeline = Pipeline(
        recipe, device=torch.device("cpu"), cache=ArtifactCache(folder), log=RunLog(None, None)
    )
    return pipeline.trained().model.eval(), pipeline.data()


def audit(net: nn.Module, folder: Path) -> float:
    table = {"task": "audit", "name": "bench", "dataset": DATASET, "evaluate": {"checks": CHECKS},
             "runtime": {"device": "cpu", "threads": 1}}  # fmt: skip
    started = time.perf_counter()
    toolkit.run(table, model=net, out_dir=folder)
    return time.perf_counter() - started


def one_at_a_time(net: nn.Module, data: Any) -> float:
    import captum.attr
    import pytorch_ood.detector as ood
    import torchattacks
    from torchmetrics.classification import MulticlassCalibrationError

    started = time.perf_counter()
    test_x, test_y = to_model_input(data.test.x), data.test.y
    train_x, train_y = to_model_input(data.train.x), data.train.y
    held = to_model_input(data.ood.x)
    assert (
        isinstance(test_x, torch.Tensor)
        and isinstance(train_x, torch.Tensor)
        and isinstance(held, torch.Tensor)
    )
    k = data.info.num_classes
    with torch.no_grad():  # performance and calibration
        logits = net(test_x)
        (logits.argmax(1) == test_y).float().mean()
        MulticlassCalibrationError(num_classes=k, n_bins=15)(logits.softmax(1), test_y)
    index = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(0))[:200].sort().values
    x, y = test_x[index], test_y[index]
    eps = 8 / 255
    attacks = [torchattacks.AutoAttack(net, eps=eps, version="standard", n_classes=k, seed=0)]
    attacks += [
        torchattacks.PGD(net, eps=e, alpha=2.5 * e / 20, steps=20) for e in (eps / 4, eps / 2, eps, 2 * eps)
    ]
    attacks += [torchattacks.FGSM(net, eps=eps), torchattacks.Square(net, eps=eps, n_queries=1000, seed=0)]
    for attack in attacks:
        adversarial = attack(x, y)
        with torch.no_grad():
            (net(adversarial).argmax(1) == y).float().mean()
    body, head = _Features(net), net.head
    assert isinstance(head, nn.Linear)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x, train_y), batch_size=256)
    detectors = [ood.MaxSoftmax(net), ood.MaxLogit(net), ood.EnergyBased(net), ood.Mahalanobis(body),
                 ood.KNN(body), ood.ViM(body, d=32, w=head.weight, b=head.bias)]  # fmt: skip
    for detector in detectors:
        if getattr(detector, "requires_fit", False):
            detector.fit(loader)
        with torch.no_grad():
            detector.predict(test_x), detector.predict(held)
    few = x[:8].clone()
    target = net(few).argmax(1)
    for randomize in (False, True):
        with randomized_weights(net, 0) if randomize else contextlib.nullcontext():
            captum.attr.Saliency(net).attribute(few, target=target, abs=True)
            captum.attr.IntegratedGradients(net).attribute(few, target=target, n_steps=32)
    return time.perf_counter() - started


class _Features(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        net, data = trained(Path(tmp) / "cache")
        ours, theirs = [], []
        for r in range(args.repeats):
            ours.append(audit(net, Path(tmp) / f"runs{r}"))
            theirs.append(one_at_a_time(net, data))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"digits small CNN, {len(data.test)} test images, 200 attacked, {args.repeats} repeats, one thread")
    print(f"toolkit audit (report, figures and model card included)  {a:7.2f} s")
    print(f"one library at a time (torchattacks, pytorch-ood, captum)  {b:7.2f} s")
    print(f"\nratio (libraries / audit): {b / a:.2f}")


if __name__ == "__main__":
    main()
