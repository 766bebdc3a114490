"""The audit's explanation check: attributions on a few test inputs, and the model-randomization
sanity check (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

Each method (default: gradient saliency and integrated gradients for images and tables;
integrated gradients, SHAP and LIME for text) explains ``samples`` seeded test inputs (8;
3 sentences for text) for the predicted class, once with the trained model and once with a
copy whose every layer is re-initialized (:mod:`toolkit.explainers.sanity`). A method
passes the sanity check when the mean absolute Spearman rank correlation between the two
signed explanations is below ``sanity_threshold`` (0.5): its explanations depend on what
the model learned. A method whose attributions are constant (all zero) fails too. The rank
correlation of the absolute maps is reported beside: integrated gradients from a black
baseline keeps the input's outline whatever the weights (0.9 on the quickstart's digits
against 0.2 signed), which the paper shows and which says nothing about the model.

Verdict: ``pass`` when every method passes; ``warn`` when some fail (their maps should not
be read as explanations of this model, the others can); ``fail`` when none passes (no
explanation of this model can be trusted: a model whose output does not depend on its
trainable weights, say). ``skipped`` when no method applies to the data.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from toolkit.audit.verdicts import CheckResult
from toolkit.explainers import sanity
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
    sanity_threshold: float = 0.5, texts: list[str] | None = None,
) -> CheckResult:  # fmt: skip
    """The explanation check of ``model`` on the model inputs ``x`` (the few inputs to explain;
    for text, token inputs and their ``texts``)."""
    from toolkit.tasks import kit

    specs = [
        m if isinstance(m, dict) else {"name": m} for m in methods or DEFAULT_METHODS.get(info.modality, ())
    ]
    if not specs:
        return CheckResult("skipped", f"no explanation method is known for {info.modality} data")
    device = next(model.parameters()).device
    probs = kit.probabilities(model, x, device=device, batch_size=len(_ids(x)))
    targets = probs.argmax(1).to(device)
    twin = sanity.randomized(model, seed)
    found: dict[str, dict[str, Any]] = {}
    for spec in specs:
        label = spec["name"] if spec["name"] not in found else f"{spec['name']}.{len(found)}"
        found[label] = _method(_build(spec, info), model, twin, x, targets, sanity_threshold)
    verdict, reason = _verdict(found, sanity_threshold)
    metrics: dict[str, Any] = {
        "n": len(targets),
        "sanity_threshold": sanity_threshold,
        "methods": {n: {k: v for k, v in f.items() if "maps" not in k} for n, f in found.items()},
    }
    table = Table(
        f"Explanations of {len(targets)} test inputs and the model-randomization sanity check "
        "(Adebayo et al. 2018): mean |Spearman| between the trained and a randomized model's "
        f"attributions; below {sanity_threshold:g} passes",
        ["method", "mean |Spearman|", "of the absolute maps", "inputs with constant attributions", "seconds",
         "sanity check"],
        [[n, f["mean_abs_spearman"], f["mean_abs_spearman_of_absolute_maps"], f["constant"], f["seconds"],
          "pass" if f["passed"] else "FAIL"] for n, f in found.items()],
    )  # fmt: skip
    tables, figures = [table], _figures(found, x, probs.argmax(1), twin, info)
    if info.modality == "text" and isinstance(x, dict):
        records = _words(model, found, x, probs, texts or [], info)
        metrics["sentences"] = records
        tables.append(_word_table(records))
        figures |= {f"sentence_{k}": _word_figure(r) for k, r in enumerate(records)}
    return CheckResult(verdict, reason, metrics, tables, figures)  # type: ignore[arg-type]


def _method(
    explainer: Any, model: nn.Module, twin: nn.Module, x: Any, targets: torch.Tensor, threshold: float
) -> dict[str, Any]:
    """One method's maps on the trained and the randomized model, and its sanity numbers."""
    device = targets.device
    started = time.perf_counter()
    maps = explainer.explain(model, _to(x, device), targets).detach().cpu()
    seconds = time.perf_counter() - started
    random_maps = explainer.explain(twin, _to(x, device), targets).detach().cpu()
    rhos, abs_rhos = (
        sanity.rank_correlations(sanity.rows(maps, x, absolute=a), sanity.rows(random_maps, x, absolute=a))
        for a in (False, True)
    )
    found = {"maps": maps, "random_maps": random_maps, **_summary(rhos, seconds, threshold)}
    return found | {"mean_abs_spearman_of_absolute_maps": _mean_abs(abs_rhos)}


def _build(spec: dict[str, Any], info: DataInfo) -> Any:
    """The explainer ``spec["name"]`` with the rest of ``spec`` as its parameters, bound to the data."""
    from toolkit.registry import registry

    params = {k: v for k, v in spec.items() if k != "name"}
    entry = registry("explainers").get(spec["name"])
    explainer = entry.load()(**entry.signature().validate(params, f"explainer {spec['name']}"))
    bind = getattr(explainer, "bind", None)
    return bind(info) if callable(bind) else explainer


def _summary(rhos: list[float], seconds: float, threshold: float) -> dict[str, Any]:
    """A method's sanity numbers: mean |rho| over the inputs with a rank correlation."""
    mean = _mean_abs(rhos)
    constant = int(np.sum(~np.isfinite(np.array(rhos, dtype=float))))
    passed = bool(np.isfinite(mean) and mean < threshold and constant < len(rhos) / 2)
    return {"mean_abs_spearman": mean, "spearman": [float(r) for r in rhos], "constant": constant,
            "seconds": seconds, "passed": passed}  # fmt: skip


def _mean_abs(rhos: list[float]) -> float:
    values = np.abs(np.array(rhos, dtype=float))
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _verdict(found: dict[str, dict[str, Any]], threshold: float) -> tuple[str, str]:
    failed = [n for n, f in found.items() if not f["passed"]]
    numbers = ", ".join(f"{n} {f['mean_abs_spearman']:.2f}" for n, f in found.items())
    said = f"mean |Spearman| with a randomized model's attributions: {numbers} (pass below {threshold:g})"
    if not failed:
        return "pass", f"every method's explanations change when the weights are randomized: {said}"
    if len(failed) == len(found):
        return "fail", f"no method's explanations depend on the learned weights: {said}"
    return "warn", f"{', '.join(failed)} barely change when the weights are randomized: {said}"


def _figures(
    found: dict[str, dict[str, Any]], x: Any, pred: torch.Tensor, twin: nn.Module, info: DataInfo
) -> dict[str, Figure]:
    """Images: inputs and maps of the trained (above) and the randomized model (below);
    tables: mean |attribution| per feature of both; text: each sentence's word attributions."""
    from toolkit import plots
    from toolkit.tasks import kit

    if info.modality == "text":
        return {}
    names = info.class_names
    random_pred = kit.predict(twin, x, device=next(twin.parameters()).device, batch_size=len(pred))
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


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, dict):
        return {k: v.to(device) for k, v in x.items()}
    return x.to(device)
