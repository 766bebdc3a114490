"""Gender bias of a text classifier, probed with templates, occupations and gendered words.

The trained classifier (a CoLA model, say) judges probe sentences
(:mod:`toolkit.text.templates`) whose male and female copies differ in one word. The
favourable outcome is the ``favourable`` class (default ``acceptable``); women are the
unprivileged group (0), men the privileged one (1). Reported, with
:mod:`toolkit.metrics.fairness` (checked against fairlearn):

- counterfactual flip rate: the share of male/female pairs whose predictions differ;
- favourable rate per gender, disparate impact ``SR_f / SR_m``, statistical parity
  difference ``SR_f - SR_m``, equal-opportunity difference ``TPR_f - TPR_m`` and average
  odds difference ``((FPR_f - FPR_m) + (TPR_f - TPR_m)) / 2`` (the probes' labels are their
  grammaticality);
- per occupation, the score gap ``mean P(fav | female) - P(fav | male)`` and the Spearman
  correlation of the gaps with each occupation's share of women (a positive correlation:
  the model prefers the gender that is common in the occupation).

With defenses in the recipe (``gender_swap``, counterfactual data augmentation), every
metric is reported for the model trained without them too, with accuracy and MCC on the
data set's test split, so the cost of the remedy is visible.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field

from toolkit.results import Table, TaskResult

if TYPE_CHECKING:
    from torch import nn

    from toolkit.execution.context import TaskContext


class TextBiasTask:
    """Probe a text classifier for gender bias (``task = "text_bias"``).

    Args:
        occupations: a JSON file mapping occupations to the share of women in percent
            (default ``$TOOLKIT_DATA/text/occupations_female_percentage.json``).
        favourable: the class that is the favourable outcome (default ``acceptable``).
        batch_size: sentences per forward pass (default 256).
    """

    uses = ("model", "train", "defenses")
    requires = ()
    modalities = ("text",)

    def __init__(
        self,
        *,
        occupations: str | None = None,
        favourable: str = "acceptable",
        batch_size: Annotated[int, Field(ge=1)] = 256,
    ) -> None:
        self.occupations, self.favourable, self.batch_size = occupations, favourable, batch_size

    def run(self, ctx: TaskContext) -> TaskResult:
        from toolkit import plots
        from toolkit.errors import UsageError
        from toolkit.explainers.text import text_tokenizer
        from toolkit.tasks import kit
        from toolkit.text.templates import probe_sentences

        data = ctx.data()
        if self.favourable not in data.info.class_names:
            raise UsageError(f"evaluate.favourable: no class {self.favourable!r} in {data.info.class_names}")
        shares = occupation_shares(self.occupations)
        probes = probe_sentences(shares)
        tokenizer = text_tokenizer(data.info.tokenizer, ctx.model(), "text_bias")
        models = kit.compared(ctx, "defenses", labels=("without defenses", "with defenses"), alone="trained")
        ctx.log.info(f"{len(probes)} probe sentences, {len(shares)} occupations, {len(models)} model(s)")
        fav = data.info.class_names.index(self.favourable)
        results = {k: probe(m, tokenizer, probes, fav, shares, self.batch_size) for k, m in models.items()}
        for key, model in models.items():
            results[key].update(_test_scores(model, data.test, ctx))
        figures = {
            "gap_by_occupation": plots.occupation_gaps({k: r["gap"] for k, r in results.items()}, shares)
        }
        samples = {"probes": _samples(probes, results)}  # takes the per-probe probabilities out
        metrics: dict[str, Any] = {**results, "n_probes": len(probes), "occupations": shares}
        return TaskResult(metrics=metrics, tables=_tables(results, shares), figures=figures, samples=samples)


def occupation_shares(path: str | None) -> dict[str, float]:
    """The occupations and their shares of women in ``path`` (a JSON object), by default
    ``$TOOLKIT_DATA/text/occupations_female_percentage.json``."""
    from toolkit.data.base import data_root
    from toolkit.errors import DataError
    from toolkit.text.templates import read_occupations

    path = path or str(data_root() / "text" / "occupations_female_percentage.json")
    if not os.path.isfile(path):
        raise DataError(
            f"evaluate.occupations: no file {path}; give a JSON object of occupation -> share of women "
            "(../shared/data/text/occupations_female_percentage.json with TOOLKIT_DATA=../shared/data)"
        )
    return read_occupations(path)


def probe(
    model: nn.Module, tokenizer: Any, probes: list[Any], fav: int, shares: dict[str, float], batch_size: int
) -> dict[str, Any]:
    """Every bias metric of one model on the probe sentences (``fav``: the favourable class)."""
    from toolkit.explainers.text import Predictor
    from toolkit.modelstate import eval_mode

    with eval_mode(model):
        p_fav = Predictor(model, tokenizer, batch_size=batch_size)([p.text for p in probes])[:, fav]
    return bias_metrics(
        p_fav,
        labels=np.array([p.label for p in probes]),
        male=np.array([p.gender == "male" for p in probes]),
        occupation=np.array([p.occupation for p in probes]),
        shares=shares,
    )


def bias_metrics(
    p_fav: np.ndarray,
    *,
    labels: np.ndarray,
    male: np.ndarray,
    occupation: np.ndarray,
    shares: dict[str, float],
) -> dict[str, Any]:
    """The bias metrics of probabilities of the favourable outcome ``p_fav`` on probes given
    as male/female pairs in consecutive rows (male first), with their labels (1 favourable),
    genders and occupations; ``shares`` maps occupations to their share of women.

    Example:
        >>> m = bias_metrics(np.array([0.9, 0.2, 0.8, 0.7]), labels=np.array([1, 1, 1, 1]),
        ...                  male=np.array([1, 0, 1, 0]), occupation=np.array(["a", "a", "b", "b"]),
        ...                  shares={"a": 10.0, "b": 90.0})
        >>> m["counterfactual_flip_rate"], m["disparate_impact"], round(m["gap"]["a"], 2)
        (0.5, 0.5, -0.7)
    """
    from scipy.stats import spearmanr

    from toolkit.metrics.fairness import binary_report, selection_rate

    male = male.astype(np.int64)  # 1: privileged
    predicted = (p_fav >= 0.5).astype(np.int64)  # favourable or not
    report = binary_report(labels, predicted, male)
    flips = predicted[male == 1] != predicted[male == 0]
    gap = {}
    for name in shares:
        here = occupation == name
        gap[name] = float(p_fav[here & (male == 0)].mean() - p_fav[here & (male == 1)].mean())
    names = list(shares)
    gaps, share = np.array([gap[n] for n in names]), np.array([shares[n] for n in names])
    varies = len(names) > 1 and np.ptp(gaps) > 0 and np.ptp(share) > 0  # else no rank correlation
    rho = spearmanr(gaps, share) if varies else None
    return {
        "counterfactual_flip_rate": float(flips.mean()),
        "favourable_rate": {
            "female": selection_rate(predicted[male == 0]),
            "male": selection_rate(predicted[male == 1]),
        },
        "disparate_impact": report["disparate_impact"],
        "statistical_parity_difference": report["statistical_parity_difference"],
        "equal_opportunity_difference": report["equal_opportunity_difference"],
        "average_odds_difference": report["average_odds_difference"],
        "probe_accuracy": float((predicted == labels).mean()),
        "gap_share_spearman": float(rho.statistic) if rho is not None else float("nan"),
        "gap_share_p_value": float(rho.pvalue) if rho is not None else float("nan"),
        "gap": gap,
        "p_favourable": p_fav,
    }


def _test_scores(model: nn.Module, test: Any, ctx: TaskContext) -> dict[str, float]:
    """Accuracy and MCC on the data set's test split: what the remedy costs."""
    from toolkit.metrics.classification import accuracy, mcc
    from toolkit.tasks.kit import predict

    predictions = predict(model, test.x, device=ctx.device, batch_size=ctx.eval_batch_size)
    y = test.y.numpy()
    return {"test_accuracy": accuracy(y, predictions.numpy()), "test_mcc": mcc(y, predictions.numpy())}


_SHOWN = [
    ("test_mcc", "test MCC"),
    ("test_accuracy", "test accuracy"),
    ("probe_accuracy", "probe accuracy"),
    ("counterfactual_flip_rate", "counterfactual flip rate"),
    ("disparate_impact", "disparate impact (1 = parity)"),
    ("statistical_parity_difference", "statistical parity difference"),
    ("equal_opportunity_difference", "equal-opportunity difference"),
    ("average_odds_difference", "average odds difference"),
    ("gap_share_spearman", "Spearman(gap, share of women)"),
]


def _tables(results: dict[str, dict[str, Any]], shares: dict[str, float]) -> list[Table]:
    keys = list(results)
    rows = [[label, *(results[k][m] for k in keys)] for m, label in _SHOWN]
    for gender in ("female", "male"):
        rows.insert(4, [f"favourable rate, {gender}", *(results[k]["favourable_rate"][gender] for k in keys)])
    order = sorted(shares, key=lambda n: results[keys[-1]]["gap"][n])
    extremes = order if len(order) <= 6 else order[:3] + order[-3:]
    return [
        Table(
            title="Gender bias on the probe sentences (women: unprivileged)",
            columns=["metric", *keys],
            rows=rows,
        ),
        Table(
            title="Occupations with the largest score gaps, P(fav | female) - P(fav | male)",
            columns=["occupation", "share of women %", *keys],
            rows=[[n, shares[n], *(results[k]["gap"][n] for k in keys)] for n in extremes],
        ),
    ]


def _samples(probes: list[Any], results: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    out = {
        "text": np.array([p.text for p in probes]),
        "label": np.array([p.label for p in probes]),
        "gender": np.array([p.gender for p in probes]),
        "occupation": np.array([p.occupation for p in probes]),
        "pair": np.array([p.pair for p in probes]),
    }
    for key, r in results.items():
        out[f"p_favourable_{key.replace(' ', '_')}"] = r.pop("p_favourable")
    return out
