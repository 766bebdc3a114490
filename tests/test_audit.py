"""The audit task: a verdict per check, the verdict table first, machine-readable verdicts;
planted defects fail exactly their check and a clean control passes.

Planted defects: overconfidence (calibration), a patch backdoor (backdoor), gradient
masking (robustness), a model that follows a sensitive column (fairness) and explanations
that ignore the weights (explanations); the text model's checks are in test_text.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from toolkit.audit.verdicts import at_or_worse, worst
from toolkit.execution.runner import run
from toolkit.recipe import parse_recipe

RECIPE: dict[str, Any] = {
    "task": "audit",
    "name": "audit_digits",
    "dataset": {"name": "digits"},
    "model": {"name": "small_cnn", "channels": [16, 32], "hidden": 64},
    "train": {"epochs": 15, "batch_size": 64, "optimizer": "adam", "lr": 0.003},
    "evaluate": {"scan_steps": 500, "robust_samples": 50},
}
CHECKS = ["performance", "calibration", "robustness", "ood", "fairness", "explanations", "backdoor"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("audit")
    return run(parse_recipe(RECIPE), out_dir=out, cache_dir=out / "cache", console=None)


def trained(recipe: Any, cache: Path) -> nn.Module:
    """The model ``recipe`` (a dict or a resolved recipe) trains, poisoning included."""
    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline

    resolved = parse_recipe(recipe) if isinstance(recipe, dict) else recipe
    pipeline = Pipeline(
        resolved, device=torch.device("cpu"), cache=ArtifactCache(cache), log=RunLog(None, None)
    )
    return pipeline.trained().model.eval()


@pytest.fixture(scope="module")
def net(clean: Any) -> nn.Module:
    return trained(RECIPE, Path(clean.path).parents[1] / "cache")


#: Four overlapping Gaussian classes (a Bayes error near 0.2): an MLP right about four times
#: in five, with calibrated probabilities.
TABLE: dict[str, Any] = {
    "task": "audit",
    "name": "audit_table",
    "dataset": {"name": "synthetic", "n_per_class": 1500, "separation": 2.0},
    "model": {"name": "mlp", "hidden": [32]},
    "train": {"epochs": 20, "batch_size": 64, "optimizer": "adam", "lr": 0.003},
}


@pytest.fixture(scope="module")
def mlp(clean: Any) -> nn.Module:
    return trained(TABLE, Path(clean.path).parents[1] / "cache")


class Scaled(nn.Module):
    """The model's logits times ``factor``: the same predictions, overconfident."""

    def __init__(self, model: nn.Module, factor: float) -> None:
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.factor


class Constant(nn.Module):
    """Always the same logits: a model that learned nothing."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.linspace(1, 0, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), -1)


def only_failing(checks: dict[str, Any]) -> list[str]:
    """The checks whose verdict is ``fail`` (a planted defect must fail its own check only)."""
    return [name for name, c in checks.items() if c["verdict"] == "fail"]


def audit(model: nn.Module, tmp_path: Path) -> Any:
    import toolkit

    table = {k: v for k, v in RECIPE.items() if k not in ("model", "train")}
    return toolkit.run(table, model=model, out_dir=tmp_path)


def test_a_clean_model_passes_and_every_check_has_a_verdict(clean: Any) -> None:
    m = clean.metrics
    assert list(m["checks"]) == CHECKS
    assert {c: m["checks"][c]["verdict"] for c in ("performance", "calibration", "backdoor")} == {
        "performance": "pass", "calibration": "pass", "backdoor": "pass"
    }  # fmt: skip
    assert m["checks"]["robustness"]["robust_accuracy"] > 0.5  # 8x8 digits at 8/255: little moves
    assert m["checks"]["robustness"]["verdict"] == "pass" and m["checks"]["robustness"]["sanity_flags"] == []
    assert m["checks"]["robustness"]["sanity"]["black_box_beats_white_box"]["flag"] is False  # Square ran
    explained = m["checks"]["explanations"]
    assert explained["verdict"] == "pass" and set(explained["methods"]) == {
        "saliency",
        "integrated_gradients",
    }
    assert all(f["mean_abs_spearman"] < 0.5 and f["constant"] == 0 for f in explained["methods"].values())
    assert (Path(clean.path) / "figures" / "explanations_saliency_maps.png").is_file()
    backdoor = m["checks"]["backdoor"]
    assert not backdoor["strip"]["suspicious"] and backdoor["strip"]["flagged_share"] < 0.05
    assert len(backdoor["training_data"]) == 10  # every digit class screened
    assert m["checks"]["fairness"] == {
        "verdict": "skipped",
        "reason": "no groups in this data set (no sensitive attributes)",
    }
    assert m["checks"]["ood"]["verdict"] == "skipped" and "no OOD data given" in m["checks"]["ood"]["reason"]
    assert m["verdict"] == "pass"
    saved = json.loads((Path(clean.path) / "metrics.json").read_text())
    assert saved["checks"]["calibration"]["verdict"] == "pass" and saved["checks"]["calibration"]["reason"]
    assert clean.tables[0].columns == ["check", "verdict", "reason"]  # the verdicts lead the report
    html = (Path(clean.path) / "report.html").read_text()
    assert html.index("Audit of audit_digits") < html.index("Performance:") < html.index("Calibration on")
    assert (Path(clean.path) / "figures" / "calibration_reliability.png").is_file()


def test_an_overconfident_model_fails_calibration_only_and_temperature_fixes_it(
    mlp: nn.Module, tmp_path: Path
) -> None:
    """The calibrated MLP passes; its logits times 25 (the same predictions, a confidence near
    1 where it is right four times in five) fail calibration and nothing else, and the
    temperature fitted on the validation half brings the ECE back under the threshold."""
    import toolkit

    data = {k: v for k, v in TABLE.items() if k not in ("model", "train")}
    control = toolkit.run(data, model=mlp, out_dir=tmp_path / "control").metrics["checks"]
    assert control["calibration"]["verdict"] == "pass" and control["performance"]["verdict"] == "pass"
    checks = toolkit.run(data, model=Scaled(mlp, 25.0), out_dir=tmp_path / "hot").metrics["checks"]
    assert checks["calibration"]["verdict"] == "fail", checks["calibration"]["reason"]
    assert only_failing(checks) == ["calibration"]
    assert checks["performance"]["verdict"] == "pass"  # the same predictions
    assert checks["calibration"]["temperature"] == pytest.approx(25, rel=0.3)
    assert checks["calibration"]["scaled"]["ece"] <= 0.05  # temperature scaling brings it back
    assert "brings it to" in checks["calibration"]["reason"]


def test_an_ece_within_sampling_noise_is_no_finding() -> None:
    """A perfectly calibrated model (labels drawn from its own probabilities) shows a binned
    ECE above 0.05 on a hundred samples; the check does not hold that against it."""
    import numpy as np

    from toolkit.audit.calibration import calibration

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 4)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p])
    found = calibration(logits, y, seed=0)
    assert found.metrics["ece"] > 0.05 and found.metrics["ece"] <= found.metrics["ece_noise"]
    assert found.verdict == "pass" and "within what a calibrated model shows" in found.reason


def test_a_model_that_learned_nothing_fails_performance(tmp_path: Path) -> None:
    import toolkit

    table = {"task": "audit", "name": "constant", "dataset": {"name": "digits"},
             "evaluate": {"checks": ["performance"]}}  # fmt: skip
    result = toolkit.run(table, model=Constant(10), out_dir=tmp_path)
    performance = result.metrics["checks"]["performance"]
    assert performance["verdict"] == "fail" and "of chance" in performance["reason"]


def test_thresholds_come_from_the_recipe(mlp: nn.Module, tmp_path: Path) -> None:
    import toolkit

    table = {k: v for k, v in TABLE.items() if k not in ("model", "train")}
    table["evaluate"] = {"ece_warn": 0.1, "ece_fail": 0.9, "checks": ["calibration"]}
    result = toolkit.run(table, model=Scaled(mlp, 25.0), out_dir=tmp_path)
    checks = result.metrics["checks"]
    assert checks["calibration"]["verdict"] == "warn" and "above 0.1" in checks["calibration"]["reason"]
    assert checks["performance"] == {"verdict": "skipped", "reason": "not asked for (evaluate.checks)"}
    assert result.metrics["verdict"] == "warn"


def test_a_planted_backdoor_fails_the_backdoor_check_naming_its_target(clean: Any, tmp_path: Path) -> None:
    """The backdoor_digits model (a 2x2 patch relabelled 0), audited as given from the model
    alone: the backdoor check fails and names class 0; no other check fails."""
    from toolkit.recipe import load_recipe

    net = trained(load_recipe("backdoor_digits"), Path(clean.path).parents[1] / "cache")
    import toolkit

    audit_table = {"task": "audit", "name": "poisoned", "dataset": {"name": "digits"},
                   "evaluate": {"scan_steps": 500, "robust_samples": 30, "square_queries": 200}}  # fmt: skip
    checks = toolkit.run(audit_table, model=net, out_dir=tmp_path).metrics["checks"]
    assert checks["backdoor"]["verdict"] == "fail" and checks["backdoor"]["flagged"] == ["0"]
    assert "flags class 0" in checks["backdoor"]["reason"]
    assert checks["performance"]["verdict"] == "pass" and checks["calibration"]["verdict"] == "pass"
    assert only_failing(checks) == ["backdoor"]


def test_verdict_order() -> None:
    assert worst(["pass", "skipped", "fail", "warn"]) == "fail" and worst(["skipped"]) == "skipped"
    assert at_or_worse("fail", "warn") and at_or_worse("warn", "warn") and not at_or_worse("pass", "warn")
    assert not at_or_worse("skipped", "warn")


# --------------------------------------------------------------------------- toolkit audit


def test_the_command_writes_the_recipe_from_options_and_exits_3_on_a_failed_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``toolkit audit --model FILE --data NAME``: an exported program audited as given; its
    recipe lands in the run folder; ``--fail-on`` turns a failed check into exit status 3."""
    from conftest import cli_in_process

    program = torch.export.export(Constant(10).eval(), (torch.zeros(2, 1, 8, 8),))
    path = tmp_path / "constant.pt2"
    torch.export.save(program, str(path))
    args = ["audit", "--model", str(path), "--data", "digits", "--out", str(tmp_path / "runs"), "-q",
            "--set", 'evaluate.checks=["performance", "calibration"]']  # fmt: skip
    code, printed = cli_in_process(args, capsys)
    assert code == 0, printed  # without --fail-on, a failed check is a finding, not an error
    folder = Path(printed.strip().splitlines()[-1])
    recipe = (folder / "recipe.toml").read_text()
    assert 'task = "audit"' in recipe and 'name = "torchscript"' in recipe and "constant.pt2" in recipe
    assert json.loads((folder / "metrics.json").read_text())["checks"]["performance"]["verdict"] == "fail"
    for level in ("fail", "warn"):
        code, printed = cli_in_process([*args, "--fail-on", level], capsys)
        said = next(line for line in printed.splitlines() if line.startswith("audit: "))
        assert code == 3 and "performance" in said and f"at or worse than {level}" in said, printed


@pytest.mark.slow  # the whole quickstart audit, AutoAttack included: about 10 s; nox runs it
def test_the_command_passes_a_clean_model_with_fail_on_warn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import cli_in_process

    root = Path(__file__).resolve().parents[1]
    args = ["audit", str(root / "recipes" / "audit_quickstart.toml"), "--out", str(tmp_path), "-q"]
    sets = ["--set", "evaluate.scan_steps=300", "--set", "evaluate.robust_samples=50"]
    code, printed = cli_in_process([*args, "--fail-on", "warn", *sets], capsys)
    assert code == 0, printed


def test_the_ood_check_scores_held_out_classes_and_data_sets(tmp_path: Path) -> None:
    """With held-out classes and a far OOD set, every default detector is scored on each; a
    recipe naming an unknown detector is refused when it is read."""
    import toolkit

    digits9 = {"name": "digits", "holdout": ["9"]}
    table = {"task": "audit", "name": "ood", "dataset": digits9,
             "evaluate": {"checks": ["ood"], "far": [{"name": "synthetic", "modality": "image"}]}}  # fmt: skip
    net9 = trained({**RECIPE, "dataset": digits9}, tmp_path / "cache")
    ood = toolkit.run(table, model=net9, out_dir=tmp_path).metrics["checks"]["ood"]
    assert set(ood["sets"]) == {"held out", "synthetic"}
    assert set(ood["sets"]["held out"]["detectors"]) == {
        "msp",
        "max_logit",
        "energy",
        "mahalanobis",
        "knn",
        "vim",
    }
    assert ood["verdict"] in ("pass", "warn") and "AUROC" in ood["reason"]
    with pytest.raises(toolkit.RecipeError, match=r"evaluate\.detectors\.0: no detector 'mps'"):
        parse_recipe({**table, "model": RECIPE["model"], "evaluate": {"detectors": ["mps"]}})


def write_table(path: Path, *, biased: bool, n: int = 6000, seed: int = 0) -> dict[str, Any]:
    """A CSV with a sensitive column ``sex`` and a ``proxy`` feature that follows it; with
    ``biased``, the label follows sex too (as a historical bias would), otherwise not. The
    ``table`` dataset of it."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    male = rng.random(n) < 0.5
    proxy = male.astype(float) + rng.normal(scale=0.3, size=n)
    score = x1 + 0.5 * x2 + (2.0 * male - 1.0 if biased else 0.0) + rng.normal(scale=0.5, size=n)
    pd.DataFrame({"x1": x1, "x2": x2, "proxy": proxy, "sex": np.where(male, "Male", "Female"),
                  "label": np.where(score > 0, ">50K", "<=50K")}).to_csv(path, index=False)  # fmt: skip
    return {
        "name": "table",
        "path": str(path),
        "label": "label",
        "favourable": ">50K",
        "sensitive": {"sex": "Male"},
    }


@pytest.mark.parametrize("biased", [False, True])
def test_a_model_that_follows_a_sensitive_column_fails_fairness_only(tmp_path: Path, biased: bool) -> None:
    """An MLP learns the proxy of sex when the labels follow sex: accurate and calibrated, it
    fails fairness (and nothing else); on labels independent of sex it passes every check."""
    pytest.importorskip("pandas", reason="the table dataset needs the fairness extra")
    import toolkit

    data = write_table(tmp_path / "table.csv", biased=biased)
    recipe = {"task": "audit", "name": "fair", "dataset": data, "model": {"name": "mlp", "hidden": [16]},
              "train": {"epochs": 10, "batch_size": 64, "optimizer": "adam", "lr": 0.003}}  # fmt: skip
    net = trained(recipe, tmp_path / "cache")
    audit_table = {k: v for k, v in recipe.items() if k not in ("model", "train")}
    checks = toolkit.run(audit_table, model=net, out_dir=tmp_path / "runs").metrics["checks"]
    assert checks["performance"]["verdict"] == "pass" and checks["calibration"]["verdict"] == "pass"
    assert checks["backdoor"]["verdict"] == "skipped"  # tabular: Neural Cleanse stamps images
    assert checks["robustness"]["verdict"] != "skipped" and checks["explanations"]["verdict"] != "skipped"
    assert only_failing(checks) == (["fairness"] if biased else [])
    if biased:
        assert checks["fairness"]["verdict"] == "fail", checks["fairness"]["reason"]
        assert "sex: p%-rule" in checks["fairness"]["reason"]
        assert checks["fairness"]["attributes"]["sex"]["p_rule"] < 50
    else:
        assert checks["fairness"]["verdict"] == "pass", checks["fairness"]["reason"]


def test_gradient_masking_raises_a_robustness_sanity_flag(net: nn.Module, tmp_path: Path) -> None:
    """The digits model behind input quantization (zero gradients almost everywhere): the
    robustness check's sanity flags are raised and lower its verdict; performance does not
    change."""
    from test_evasion_task import Quantized

    import toolkit

    table = {"task": "audit", "name": "masked", "dataset": {"name": "digits"},
             "evaluate": {"checks": ["performance", "robustness"], "robust_samples": 50}}  # fmt: skip
    checks = toolkit.run(table, model=Quantized(net), out_dir=tmp_path).metrics["checks"]
    robustness = checks["robustness"]
    assert "zero_or_nonfinite_gradients" in robustness["sanity_flags"], robustness["sanity"]
    # Square needs no gradients: the black-box attack beats the white-box ones
    assert "black_box_beats_white_box" in robustness["sanity_flags"], robustness["attacks"]
    assert robustness["verdict"] in ("warn", "fail") and "sanity flags" in robustness["reason"]
    assert checks["performance"]["verdict"] == "pass"


def test_the_model_card_is_written_and_readable_on_its_own(tmp_path: Path) -> None:
    """model_card.md and .json: the recipe's uses, the factors, a verdict per check, the
    per-group numbers, and caveats drawn from the checks that did not pass."""
    pytest.importorskip("pandas", reason="the table dataset needs the fairness extra")
    import toolkit

    data = write_table(tmp_path / "table.csv", biased=True, n=2000)
    recipe = {"task": "audit", "name": "card", "dataset": data, "model": {"name": "mlp", "hidden": [16]},
              "train": {"epochs": 5, "batch_size": 64, "optimizer": "adam", "lr": 0.003},
              "evaluate": {"intended_use": "ranking loan applications for review",
                           "out_of_scope": "automated decisions without review"}}  # fmt: skip
    result = toolkit.run(recipe, out_dir=tmp_path / "runs")
    text = (result.path / "model_card.md").read_text()
    card = json.loads((result.path / "model_card.json").read_text())
    for heading in ("Model details", "Intended use", "Out-of-scope uses", "Factors", "Metrics",
                    "Evaluation data", "Quantitative analyses", "Caveats and recommendations"):  # fmt: skip
        assert f"## {heading}" in text
    assert card["intended_use"] == "ranking loan applications for review" and "without review" in text
    assert card["factors"]["sensitive_attributes"] == {"sex": ["Female", "Male"]}
    assert set(card["quantitative_analyses"]["sex"]) == {"Female", "Male"}
    assert any(c.startswith("fairness (fail)") for c in card["caveats"])
    assert card["metrics"]["fairness"]["verdict"] == result.metrics["checks"]["fairness"]["verdict"]
    html = (result.path / "report.html").read_text()
    assert "Model card (model_card.md, model_card.json)" in html
    for shown in ("ranking loan applications", "sex = Female: ", "training fingerprint", "fairness (fail)"):
        assert shown in html  # the whole card, not only its uses


class Unreachable(nn.Module):
    """The digits model kept where re-initialization cannot reach it (a plain attribute, not
    a submodule), times one trainable scale: explanations of it cannot depend on the weights
    a randomization resets."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "hidden", model.eval())
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.__dict__["hidden"](x) * self.scale


def test_explanations_that_ignore_the_weights_fail_the_explanation_check(
    net: nn.Module, tmp_path: Path
) -> None:
    """The same model with its weights out of the randomization's reach: every method's
    explanations come out the same for the randomized copy (rank correlation 1), so the
    check fails; the predictions, and the performance check, are the trained model's."""
    import toolkit

    table = {"task": "audit", "name": "unreachable", "dataset": {"name": "digits"},
             "evaluate": {"checks": ["performance", "explanations"], "explain_samples": 4}}  # fmt: skip
    checks = toolkit.run(table, model=Unreachable(net), out_dir=tmp_path).metrics["checks"]
    explained = checks["explanations"]
    assert explained["verdict"] == "fail" and "no method" in explained["reason"], explained["reason"]
    for found in explained["methods"].values():
        assert found["mean_abs_spearman"] == pytest.approx(1.0) and not found["passed"]
    assert checks["performance"]["verdict"] == "pass"


def test_tables_are_attacked_with_pgd_inside_their_bounds(mlp: nn.Module, tmp_path: Path) -> None:
    """Table features: FGSM and a PGD-20 curve at a tenth of a standard deviation (no
    AutoAttack, which clips to [0, 1]); a budget of three standard deviations moves the
    overlapping Gaussian classes into each other, and the check fails."""
    import toolkit

    table = {k: v for k, v in TABLE.items() if k not in ("model", "train")}
    table["evaluate"] = {"checks": ["robustness"], "robust_samples": 200}
    small = toolkit.run(table, model=mlp, out_dir=tmp_path / "small").metrics["checks"]["robustness"]
    assert small["headline"] == "PGD-20" and set(small["attacks"]) == {"fgsm", "pgd"}
    assert small["eps"] == pytest.approx(0.1) and small["verdict"] == "pass", small["reason"]
    curve = small["attacks"]["pgd"]["robust_accuracy"]
    assert curve[-1] <= curve[0] <= small["clean_accuracy"]
    table["evaluate"]["eps"] = 3.0
    large = toolkit.run(table, model=mlp, out_dir=tmp_path / "large").metrics["checks"]["robustness"]
    assert large["verdict"] == "fail" and large["robust_accuracy"] < 0.1 * large["clean_accuracy"]


def test_strip_flags_triggered_test_inputs_and_the_training_screen_reads_every_class(
    clean: Any, tmp_path: Path
) -> None:
    """STRIP, thresholded on clean training images, flags about 1% of clean test inputs and
    most triggered ones: a test split with triggered inputs is 'suspicious'. The training
    screen reports each class's smaller cluster and top direction."""
    import numpy as np

    from toolkit.audit.backdoor_data import strip_screen, training_screen
    from toolkit.data.inputs import to_model_input
    from toolkit.recipe import load_recipe

    recipe = load_recipe("backdoor_digits")
    net = trained(recipe, Path(clean.path).parents[1] / "cache")
    from toolkit.execution.cache import ArtifactCache
    from toolkit.execution.log import RunLog
    from toolkit.execution.pipeline import Pipeline

    pipeline = Pipeline(
        recipe, device=torch.device("cpu"), cache=ArtifactCache(tmp_path), log=RunLog(None, None)
    )
    data = pipeline.data()
    attack = pipeline.build(recipe.attacks[0], data.info)
    train, test = to_model_input(data.train.x), to_model_input(data.test.x)
    triggered = to_model_input(attack.trigger(data.test.x))
    assert (
        isinstance(train, torch.Tensor)
        and isinstance(test, torch.Tensor)
        and isinstance(triggered, torch.Tensor)
    )
    calm = strip_screen(net, train, test, seed=0)
    assert calm["flagged_share"] < 0.04 and not calm["suspicious"]
    mixed = torch.cat([test[:200], triggered[:100]])
    alarm = strip_screen(net, train, mixed, seed=0)
    assert alarm["suspicious"] and alarm["flagged"] >= 50, alarm
    features = torch.nn.Flatten()(train)[:, :16].numpy()
    screen = training_screen(features, data.train.y.numpy(), data.info.class_names, seed=0)
    assert set(screen) == set(data.info.class_names)
    for row in screen.values():
        assert 0 < row["small_cluster_share"] <= 0.5 and 0 < row["top_direction_share"] <= 1
        assert np.isfinite(row["silhouette"])


class NoWeights(nn.Module):
    """The first ten pixels as logits: a model with no weights at all."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10]


def test_the_explanation_check_skips_a_model_without_weights_and_methods_that_cannot_run(
    net: nn.Module,
) -> None:
    """No weights: nothing to randomize, so the check says why it is skipped. A method that
    cannot explain these inputs (SHAP explains text) is listed as not run; the others decide."""
    from toolkit.audit.explanations import explanations
    from toolkit.data.digits import load
    from toolkit.data.inputs import to_model_input

    bundle = load(0)
    x = to_model_input(bundle.test.x[:4])
    none = explanations(NoWeights(), x, bundle.info)
    assert none.verdict == "skipped" and "no weights to randomize" in none.reason
    mixed = explanations(net, x, bundle.info, methods=["saliency", "shap"])
    assert mixed.verdict == "pass" and set(mixed.metrics["methods"]) == {"saliency"}
    assert "shap" in mixed.metrics["skipped_methods"] and "not run: shap" in mixed.reason


def test_randomized_weights_reach_compiled_programs_and_are_restored(net: nn.Module) -> None:
    """Inside the block every parameter differs (TorchScript modules have no reset_parameters:
    they are drawn afresh), the same for the same seed; after it the trained weights are back."""
    from toolkit.explainers.sanity import randomized_weights

    x = torch.rand(3, 1, 8, 8)
    scripted = torch.jit.trace(net.eval(), x)
    before = scripted(x).detach()
    with randomized_weights(scripted, 0) as changed:
        first = scripted(x).detach()
    with randomized_weights(scripted, 0):
        again = scripted(x).detach()
    assert changed == len(list(scripted.parameters())) and not torch.allclose(first, before)
    assert torch.equal(first, again) and torch.equal(scripted(x).detach(), before)
    bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).eval()
    bn[1].running_mean.fill_(3.0)  # reset_parameters resets these too: they must come back
    with randomized_weights(bn, 0):
        assert float(bn[1].running_mean.abs().max()) == 0.0
    assert torch.equal(bn[1].running_mean, torch.full((2,), 3.0))
