"""The model card of an audit (Mitchell et al., "Model Cards for Model Reporting", FAT*
2019): ``model_card.md`` and ``model_card.json`` in the run folder.

Its sections, each drawn from the run and never written by hand:

- **Model details**: the model table of the recipe (for a file: its path; the file's SHA-256
  is in the run's fingerprint), the toolkit's version, the run's training fingerprint;
- **Intended use** and **Out-of-scope uses**: the audit's ``intended_use`` and
  ``out_of_scope`` (and the recipe's ``description``);
- **Factors**: the data's classes, modality and sensitive attributes;
- **Metrics**: each check's verdict and reason;
- **Evaluation data**: the dataset table and the test split's size;
- **Quantitative analyses**: accuracy, and per group of each sensitive attribute the
  selection rate, TPR, FPR and accuracy;
- **Caveats and recommendations**: every check that failed or warned, and every one that
  was skipped, with its reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from toolkit.audit.verdicts import CheckResult
    from toolkit.execution.context import TaskContext

__all__ = ["card_table", "model_card"]


def model_card(
    ctx: TaskContext, results: dict[str, CheckResult], *, intended_use: str, out_of_scope: str
) -> tuple[str, dict[str, Any]]:
    """The card as Markdown and as a JSON-ready dict."""
    from toolkit.version import __version__

    data = ctx.data()
    recipe = ctx.recipe
    details = {
        "model": _plain(recipe.model.table() if recipe.model else {}),
        "toolkit": __version__,
        "training_fingerprint": recipe.fingerprints()["train"][:12],
        "recipe": recipe.name,
    }
    factors = {
        "modality": data.info.modality,
        "classes": list(data.info.class_names),
        "sensitive_attributes": {k: list(v) for k, v in data.info.sensitive.items()},
    }
    caveats = [f"{n} ({r.verdict}): {r.reason}" for n, r in results.items() if r.verdict != "pass"]
    card: dict[str, Any] = {
        "model_details": details,
        "intended_use": intended_use or recipe.recipe.description or "not stated (evaluate.intended_use)",
        "out_of_scope_uses": out_of_scope or "not stated (evaluate.out_of_scope)",
        "factors": factors,
        "metrics": {name: {"verdict": r.verdict, "reason": r.reason} for name, r in results.items()},
        "evaluation_data": {"dataset": _plain(recipe.dataset.table()), "test_samples": len(data.test)},
        "quantitative_analyses": _analyses(ctx),
        "caveats": caveats,
    }
    return _markdown(card), card


def _analyses(ctx: TaskContext) -> dict[str, Any]:
    """Accuracy, and the group metrics of each sensitive attribute on the test split."""
    from toolkit.metrics.fairness import group_metrics

    data = ctx.data()
    y = data.test.y.numpy()
    pred = ctx.outputs("test").predictions.numpy()
    out: dict[str, Any] = {"accuracy": float(np.mean(y == pred))}
    if data.info.num_classes == 2:
        for attr, names in data.info.sensitive.items():
            groups = group_metrics(y, pred, data.test.groups[attr].numpy())
            out[attr] = {names[int(k)]: v for k, v in groups.items()}
    return out


def _plain(obj: Any) -> Any:
    """JSON-ready values (paths and tuples as text and lists)."""
    return json.loads(json.dumps(obj, default=str))


def _markdown(card: dict[str, Any]) -> str:
    details, factors, evaluation = card["model_details"], card["factors"], card["evaluation_data"]
    sensitive = _sensitive(factors)
    lines = [
        f"# Model card: {details['recipe']}", "",
        "Written by `toolkit audit` from the run (Mitchell et al. 2019).", "",
        "## Model details", "",
        f"- Model: `{json.dumps(details['model'])}`",
        f"- Training fingerprint: `{details['training_fingerprint']}`; toolkit {details['toolkit']}", "",
        "## Intended use", "", card["intended_use"], "",
        "## Out-of-scope uses", "", card["out_of_scope_uses"], "",
        "## Factors", "",
        f"- Modality: {factors['modality']}; classes: {', '.join(factors['classes'])}",
        f"- Sensitive attributes: {sensitive or 'none'}", "",
        "## Metrics", "", "| check | verdict | reason |", "| --- | --- | --- |",
        *(f"| {name} | {m['verdict']} | {m['reason']} |" for name, m in card["metrics"].items()), "",
        "## Evaluation data", "",
        f"- `{json.dumps(evaluation['dataset'])}`", f"- {evaluation['test_samples']} test samples", "",
        "## Quantitative analyses", "",
        f"- Accuracy: {card['quantitative_analyses']['accuracy']:.4f}",
    ]  # fmt: skip
    for attr, groups in card["quantitative_analyses"].items():
        if attr != "accuracy":
            lines += ["", f"| {attr} | count | selection rate | TPR | FPR | accuracy |", "| --- " * 6 + "|"]
            lines += [_group_row(g, m) for g, m in groups.items()]
    lines += ["", "## Caveats and recommendations", ""]
    lines += [f"- {c}" for c in card["caveats"]] or ["- none raised by the audit"]
    return "\n".join(lines) + "\n"


def _sensitive(factors: dict[str, Any]) -> str:
    return ", ".join(f"{k} ({' vs '.join(v)})" for k, v in factors["sensitive_attributes"].items())


def _group_row(group: str, m: dict[str, float]) -> str:
    cells = (m["selection_rate"], m["tpr"], m["fpr"], m["accuracy"])
    return f"| {group} | {m['count']} | " + " | ".join(f"{v:.3f}" for v in cells) + " |"


def card_table(card: dict[str, Any]) -> Any:
    """The whole card as the report's table: a row per entry of each section (the metrics
    section is the verdict table the report opens with)."""
    from toolkit.results import Table

    details, factors, evaluation = card["model_details"], card["factors"], card["evaluation_data"]
    sensitive = _sensitive(factors)
    rows = [
        ["model details", f"{json.dumps(details['model'])}; training fingerprint "
                          f"{details['training_fingerprint']}; toolkit {details['toolkit']}"],
        ["intended use", card["intended_use"]],
        ["out-of-scope uses", card["out_of_scope_uses"]],
        ["factors", f"modality {factors['modality']}; classes {', '.join(factors['classes'])}; "
                    f"sensitive attributes: {sensitive or 'none'}"],
        ["metrics", "the verdict of each check (the table this report opens with)"],
        ["evaluation data", f"{json.dumps(evaluation['dataset'])}; {evaluation['test_samples']} test "
                            "samples"],
        ["quantitative analyses", f"accuracy {card['quantitative_analyses']['accuracy']:.4f}"],
    ]  # fmt: skip
    for attr, groups in card["quantitative_analyses"].items():
        if attr != "accuracy":
            rows += [["quantitative analyses", f"{attr} = {g}: " + _group_text(m)] for g, m in groups.items()]
    rows += [["caveat", c] for c in card["caveats"]] or [["caveats", "none raised by the audit"]]
    return Table(
        title="Model card (model_card.md, model_card.json)", columns=["section", "content"], rows=rows
    )


def _group_text(m: dict[str, float]) -> str:
    return (f"{m['count']} samples, selection rate {m['selection_rate']:.3f}, TPR {m['tpr']:.3f}, "
            f"FPR {m['fpr']:.3f}, accuracy {m['accuracy']:.3f}")  # fmt: skip
