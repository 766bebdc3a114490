"""The run folder keeps per-sample columns from which the reference libraries recompute the
tables: fairlearn's MetricFrame the fairness table, scikit-learn the OOD table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import needs

from toolkit.execution.runfolder import read_samples, write_samples
from toolkit.execution.runner import run
from toolkit.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_fairness_table_recomputed_with_metricframe_from_the_run_folder() -> None:
    fairlearn = needs("fairlearn.metrics")
    from sklearn.metrics import accuracy_score

    result = run(load_recipe(ROOT / "recipes" / "adult_unfair.toml", ["train.epochs=1"]), console=None)
    cols = read_samples(result.path / "samples" / "test.npz")
    metrics = json.loads((result.path / "metrics.json").read_text())
    y, pred = cols["label"], cols["prediction"]
    assert len(y) == len(pred) == len(cols["probability"]) == len(cols["group_race"])
    assert np.array_equal(pred, (cols["probability"] > metrics["threshold"]).astype(pred.dtype))
    assert accuracy_score(y, pred) == pytest.approx(metrics["accuracy"], abs=1e-12)
    for attr in ("race", "sex"):
        frame = fairlearn.MetricFrame(
            metrics={
                "selection_rate": fairlearn.selection_rate,
                "tpr": fairlearn.true_positive_rate,
                "fpr": fairlearn.false_positive_rate,
                "count": fairlearn.count,
            },
            y_true=y,
            y_pred=pred,
            sensitive_features=cols[f"group_{attr}"],
        )
        ours = metrics["attributes"][attr]
        for code in (0, 1):
            for name in ("selection_rate", "tpr", "fpr", "count"):
                assert frame.by_group.loc[code, name] == pytest.approx(
                    ours["groups"][str(code)][name], abs=1e-12
                )
        rates = frame.by_group["selection_rate"]
        assert 100 * min(rates[0] / rates[1], rates[1] / rates[0]) == pytest.approx(ours["p_rule"], abs=1e-9)
        eod = fairlearn.equalized_odds_difference(y, pred, sensitive_features=cols[f"group_{attr}"])
        assert eod == pytest.approx(ours["equalized_odds_difference"], abs=1e-12)


def test_ood_table_recomputed_with_scikit_learn_from_the_run_folder(tiny_recipe: Path) -> None:
    from sklearn.metrics import roc_auc_score

    result = run(load_recipe(tiny_recipe), console=None)
    cols = read_samples(result.path / "samples" / "ood.npz")
    metrics = json.loads((result.path / "metrics.json").read_text())
    inside = cols["held_out"] == 0
    assert int(inside.sum()) == metrics["n_in"] and int((~inside).sum()) == metrics["n_out"]
    assert (cols["prediction"][inside] == cols["label"][inside]).mean() == pytest.approx(metrics["accuracy"])
    assert np.allclose(cols["probabilities"].sum(axis=1), 1, atol=1e-5)
    for name, m in metrics["detectors"].items():
        scores = cols[f"score_{name}"]
        assert roc_auc_score(inside.astype(int), scores) == pytest.approx(m["auroc"], abs=1e-12)
        threshold = np.quantile(scores[inside], 1 - metrics["tpr"])
        accepted = (scores[~inside] >= m["threshold"]).mean()
        assert accepted == pytest.approx(m["fpr_at_tpr"], abs=1e-12)
        assert threshold == pytest.approx(m["threshold"], rel=0.05, abs=0.05)


def test_samples_refuse_columns_of_different_lengths_or_objects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        write_samples(tmp_path / "a.npz", {"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="Python objects"):
        write_samples(tmp_path / "b.npz", {"a": np.array([{}, {}], dtype=object)})
