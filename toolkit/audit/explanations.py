"""The audit's explanation check: attributions on a few test inputs, and the model-randomization
sanity check (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

Each method (default: gradient saliency and integrated gradients for images and tables;
integrated gradients, SHAP and LIME for text) explains ``samples`` seeded test inputs (8;
3 sentences for text) for the predicted class, once with the trained model and once with a
copy whose every layer is re-initialized (:mod:`toolkit.explainers.sanity`). A method
passes the sanity check when the mean absolute Spearman rank correlation between the two
signed explanations is below ``sanity_threshold`` (0.5): its explanations depend on what
the model learned. With few positions (a table of three features) unrelated rankings
correlate by chance (a mean |rho| of 0.67 is expected for three): a method above the
threshold passes still when it is within the 95th percentile of the same statistic for the
randomized maps with their positions shuffled (``chance_q95``); explanations that do not
change (rho near 1) stay above it. A method whose attributions are constant (all zero) fails too. The rank
correlation of the absolute maps is reported beside: integrated gradients from a black
baseline keeps the input's outline whatever the weights (0.9 on the quickstart's digits
against 0.2 signed), which the paper shows and which says nothing about the model. The
weights are randomized in place and restored (:func:`toolkit.explainers.sanity.randomized_weights`),
so compiled programs (TorchScript, ``torch.export``) are checked too. A method that cannot
run here (its extra is not installed, the model lacks what it needs) is listed as not run.

Verdict: ``pass`` when every method passes; ``warn`` when some fail (their maps should not
be read as explanations of this model, the others can); ``fail`` when none passes (no
explanation of this model can be trusted: a model whose output does not depend on its
trainable weights, say). ``skipped`` when no method applies to the data or runs, or the
model has no weights to randomize.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toolkit.audit.verdicts import CheckResult
from toolkit.data.inputs import to_device
from toolkit.explainers import sanity
from toolkit.modelstate import device_of
from toolkit.results import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

    from toolkit.data.base import DataInfo

__all__ = ["DEFAULT_METHODS", "explanations"]

#: The methods each modality is explained with by default.
DEFAULT_METHODS = {
    "image": ("saliency", "integrated_gradients"),
    "tabular": ("saliency", "integrated_gradients"),
    "text": ("integrated_gradients", "shap", "lime"),
}


def explanations(
    model: nn.Module, x: Any, info: DataInfo, *, methods: list[Any] | None = None, seed: int = 0,
    sanity_threshold: float = 0.5, texts: list[str] | None = None, device: Any = None,
) -> CheckResult:  # fmt: skip
    """The explanation check of ``model`` on the model inputs ``x`` (the few inputs to explain;
    for text, token inputs and their ``texts``) on ``device`` (default: the model's)."""
    from toolkit.tasks import kit

    asked = methods or DEFAULT_METHODS.get(info.modality, ())
    specs = [m if isinstance(m, dict) else {"name": m} for m in asked]
    if not specs:
        return CheckResult("skipped", f"no explanation method is known for {info.modality} data")
    device = torch.device(device) if device is not None else device_of(model)
    x = to_device(x, device)
    probs = kit.probabilities(model, x, device=device, batch_size=len(_ids(x)))
    targets = probs.argmax(1).to(device)
    built, skipped = _explain_all(specs, model, x, targets, info)
    if not built:
        return CheckResult("skipped", "no method could explain this model: " + "; ".join(skipped.values()))
    with sanity.randomized_weights(model, seed) as changed:
        random_pred = kit.predict(model, x, device=device, batch_size=len(targets))
        for f in built.values():
            f["random_maps"] = f.pop("explainer").explain(model, x, targets).detach().cpu()
    if not changed:
        return CheckResult("skipped", "the model has no weights to randomize (no floating-point parameters)")
    found = {n: f | _summary(f["maps"], f["random_maps"], x, sanity_threshold) for n, f in built.items()}
    verdict, reason = _verdict(found, sanity_threshold, skipped)
    metrics: dict[str, Any] = {
        "n": len(targets),
        "sanity_threshold": sanity_threshold,
        "methods": {n: {k: v for k, v in f.items() if "maps" not in k} for n, f in found.items()},
        "skipped_methods": skipped,
    }
    tables, figures = (
        [_table(found, len(targets), sanity_threshold)],
        _figures(found, x, probs, random_pred, info),
    )
    if info.modality == "text" and isinstance(x, dict):
        records = _words(model, found, x, probs, texts or [], info)
        metrics["sentences"] = records
        tables.append(_word_table(records))
        figures |= {f"sentence_{k}": _word_figure(r) for k, r in enumerate(records)}
    return CheckResult(verdict, reason, metrics, tables, figures)  # type: ignore[arg-type]


def _explain_all(
    specs: list[dict[str, Any]], model: nn.Module, x: Any, targets: torch.Tensor, info: DataInfo
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each method's maps of the trained model (with its explainer, kept for the randomized
    one); a method that cannot run here (its extra, the model) is set aside with the reason."""
    from toolkit.errors import UsageError

    built: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for spec in specs:
        label = (
            spec["name"]
            if spec["name"] not in built and spec["name"] not in skipped
            else f"{spec['name']}.{len(built)}"
        )
        try:
            explainer = _build(spec, info)
            started = time.perf_counter()
            maps = explainer.explain(model, x, targets).detach().cpu()
        except (UsageError, ImportError) as exc:
            skipped[label] = f"{label}: {exc}"
            continue
        built[label] = {"explainer": explainer, "maps": maps, "seconds": time.perf_counter() - started}
    return built, skipped


def _table(found: dict[str, dict[str, Any]], n: int, threshold: float) -> Table:
    return Table(
        f"Explanations of {n} test inputs and the model-randomization sanity check (Adebayo et al. "
        "2018): mean |Spearman| between the trained and a randomized model's attributions; below "
        f"{threshold:g} passes",
        ["method", "mean |Spearman|", "of the absolute maps", "inputs the trained model explains with a "
         "constant map", "seconds", "sanity check"],
        [[name, f["mean_abs_spearman"], f["mean_abs_spearman_of_absolute_maps"], f["constant"], f["seconds"],
          "pass" if f["passed"] else "FAIL"] for name, f in found.items()],
    )  # fmt: skip


def _build(spec: dict[str, Any], info: DataInfo) -> Any:
    """The explainer ``spec["name"]`` with the rest of ``spec`` as its parameters, bound to the data."""
    from toolkit.registry import registry

    params = {k: v for k, v in spec.items() if k != "name"}
    entry = registry("explainers").get(spec["name"])
    explainer = entry.load()(**entry.signature().validate(params, f"explainer {spec['name']}"))
    bind = getattr(explainer, "bind", None)
    return bind(info) if callable(bind) else explainer


def _summary(maps: torch.Tensor, random_maps: torch.Tensor, x: Any, threshold: float) -> dict[str, Any]:
    """A method's sanity numbers. An input the trained model explains with a constant map has
    no rank correlation (counted in ``constant``); one whose randomized map alone is constant
    changed completely (rank correlation 0)."""
    out: dict[str, Any] = {}
    for key, absolute in (("mean_abs_spearman", False), ("mean_abs_spearman_of_absolute_maps", True)):
        a, b = sanity.rows(maps, x, absolute=absolute), sanity.rows(random_maps, x, absolute=absolute)
        rhos = [float("nan") if np.ptp(u) == 0 else 0.0 if np.ptp(v) == 0 else r
                for u, v, r in zip(a, b, sanity.rank_correlations(a, b), strict=True)]  # fmt: skip
        out[key] = _mean_abs(rhos)
        if not absolute:
            out["spearman"] = rhos
            out["constant"] = int(np.sum(np.isnan(np.array(rhos, dtype=float))))
    mean, constant = out["mean_abs_spearman"], out["constant"]
    below = bool(np.isfinite(mean) and mean < threshold)
    if np.isfinite(mean) and not below:  # few positions: unrelated rankings correlate by chance
        signed = sanity.rows(maps, x, absolute=False), sanity.rows(random_maps, x, absolute=False)
        out["chance_q95"] = _chance_q95(*signed)
        below = mean <= out["chance_q95"]
    out["passed"] = bool(below and constant < len(out["spearman"]) / 2)
    return out


def _chance_q95(trained: list[np.ndarray], random: list[np.ndarray], draws: int = 200) -> float:
    """The 95th percentile of the mean |Spearman| between the trained maps and the randomized
    maps with their positions shuffled: what unrelated explanations of this many positions
    give (about 0.8 for three features and eight inputs; near 0 for an image)."""
    rng = np.random.default_rng(0)
    pairs = [(u, v) for u, v in zip(trained, random, strict=True) if np.ptp(u) > 0 and np.ptp(v) > 0]
    if not pairs:
        return float("nan")
    means = [
        np.mean([abs(sanity.rank_correlation(u, rng.permutation(v))) for u, v in pairs]) for _ in range(draws)
    ]
    return float(np.nanquantile(means, 0.95))


def _mean_abs(rhos: list[float]) -> float:
    values = np.abs(np.array(rhos, dtype=float))
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _verdict(found: dict[str, dict[str, Any]], threshold: float, skipped: dict[str, str]) -> tuple[str, str]:
    failed = [n for n, f in found.items() if not f["passed"]]
    numbers = ", ".join(f"{n} {f['mean_abs_spearman']:.2f}" for n, f in found.items())
    said = f"mean |Spearman| with a randomized model's attributions: {numbers} (pass below {threshold:g})"
    if skipped:
        said += f"; not run: {', '.join(skipped)}"
    if not failed:
        return "pass", f"every method's explanations change when the weights are randomized: {said}"
    if len(failed) == len(found):
        return "fail", f"no method's explanations depend on the learned weights: {said}"
    return "warn", f"{', '.join(failed)} barely change when the weights are randomized: {said}"


def _figures(
    found: dict[str, dict[str, Any]], x: Any, probs: torch.Tensor, random_pred: torch.Tensor, info: DataInfo
) -> dict[str, Figure]:
    """Images: inputs and maps of the trained (above) and the randomized model (below);
    tables: mean |attribution| per feature of both (text: the word figures, elsewhere)."""
    from toolkit import plots

    if info.modality == "text":
        return {}
    names, pred = info.class_names, probs.argmax(1)
    out = {}
    for name, f in found.items():
        if isinstance(x, torch.Tensor) and x.dim() == 4:
            k = min(6, len(x))
            out[f"{name}_maps"] = plots.attribution_grid(
                x[:k].cpu(), f["maps"][:k], x[:k].cpu(), f["random_maps"][:k], pred[:k], random_pred[:k],
                names, title=f"{name}: trained model (above), randomized model (below)",
                prefixes=("", "random "),
            )  # fmt: skip
        else:
            out[f"{name}_features"] = plots.feature_attributions(
                f["maps"].numpy().reshape(len(pred), -1), f["random_maps"].numpy().reshape(len(pred), -1),
                info.feature_names, title=f"{name}: trained and randomized model",
                legend=("trained model", "randomized model"),
            )  # fmt: skip
    return out


def _words(
    model: nn.Module, found: dict[str, dict[str, Any]], x: dict[str, torch.Tensor], probs: torch.Tensor,
    texts: list[str], info: DataInfo,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per sentence: its words, the prediction and each method's word attributions."""
    from toolkit.explainers.text import text_tokenizer
    from toolkit.tasks.explain import word_records

    tokenizer = text_tokenizer(info.tokenizer, model, "the explanation check")
    if len(texts) != len(probs):
        texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in x["input_ids"].tolist()]
    methods = {n: {"maps": f["maps"]} for n, f in found.items()}
    return word_records(texts, x, probs, probs.argmax(1), info.class_names, methods, tokenizer)


def _word_table(records: list[dict[str, Any]]) -> Table:
    from toolkit.tasks.explain import top_words

    rows = [[r["text"], r["target"], n, top_words(r["words"], v)]
            for r in records for n, v in r["attributions"].items()]  # fmt: skip
    return Table("Words that pushed toward the prediction, strongest first",
                 ["sentence", "prediction", "method", "words"], rows)  # fmt: skip


def _word_figure(record: dict[str, Any]) -> Figure:
    from toolkit import plots

    return plots.word_attributions(record, title=record["text"])


def _ids(x: Any) -> Any:
    return x["input_ids"] if isinstance(x, dict) else x
