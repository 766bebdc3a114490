"""Text: our SHAP path against shap's pipeline path, and our fine-tuning loop against a plain
Hugging Face ``Trainer``, each as a ratio of times measured in one process.

1. SHAP: the same model and sentences explained (a) by :class:`toolkit.explainers.shap_text.Shap`
   (shap's Partition explainer and Text masker over our batched predict function) and (b) by
   ``shap.Explainer(pipeline)`` on a ``transformers`` text-classification pipeline (shap's
   documented path). Both use the same ``max_evals``; a warm-up call first pays shap's
   compilation, which is kept out of the timing. The attributions of both are compared.
2. Fine-tuning: optimizer steps per second of :func:`toolkit.training.train` and of
   ``transformers.Trainer`` (which needs ``accelerate``: ``pip install accelerate``) on the
   same model, sentences, batch size, optimizer, schedule and clipping, one thread, no
   evaluation; the median of three alternating rounds after an untimed one of each. Ours
   runs with the default per-parameter AdamW and with ``[train] fused = true`` (the Trainer
   uses the fused kernel by default).

The model is the shared all-MiniLM-L6-v2 (``--model``) or, without it, the tiny BERT of
:mod:`toolkit.testing.text`; the sentences are the tiny CoLA-style ones.

    python benchmarks/text.py [--model ../shared/data/models/all-MiniLM-L6-v2] [--sentences 6] [--steps 30]
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def shap_timings(model_dir: str, sentences: list[str], max_evals: int) -> dict[str, float]:
    import shap
    from transformers import pipeline

    from toolkit.data.base import DataInfo
    from toolkit.explainers.shap_text import Shap
    from toolkit.models.hf_text import build
    from toolkit.text.tokens import encode, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    info = DataInfo("bench", "text", {}, ["unacceptable", "acceptable"], tokenizer=model_dir)
    torch.manual_seed(0)
    model = build(info, checkpoint=model_dir).eval()
    inputs = encode(tokenizer, sentences, max_length=64)
    with torch.no_grad():
        targets = model(inputs).argmax(1)
    ours = Shap(max_evals=max_evals).bind(info)
    ours.explain(model, {k: v[:1] for k, v in inputs.items()}, targets[:1])  # warm-up: compilation
    started = time.perf_counter()
    mine = ours.explain(model, inputs, targets)
    t_ours = time.perf_counter() - started

    pipe = pipeline("text-classification", model=model.hf, tokenizer=tokenizer, top_k=None, device=-1)
    theirs = shap.Explainer(pipe)
    theirs(sentences[:1], max_evals=max_evals, silent=True)  # warm-up
    started = time.perf_counter()
    found = theirs(sentences, max_evals=max_evals, silent=True)
    t_pipe = time.perf_counter() - started
    labels = list(found.output_names)
    agree = []
    for i, c in enumerate(targets.tolist()):
        column = labels.index(model.hf.config.id2label[c]) if model.hf.config.id2label[c] in labels else c
        n = int(inputs["attention_mask"][i].sum())
        theirs_i = np.asarray(found.values[i])[:, column]
        if len(theirs_i) == n:
            agree.append(float(np.corrcoef(theirs_i, mine[i, :n].numpy())[0, 1]))
    return {
        "ours_s": t_ours,
        "pipeline_s": t_pipe,
        "ratio_pipeline_over_ours": t_pipe / t_ours,
        "correlation_of_values": float(np.nanmean(agree)) if agree else float("nan"),
    }


def training_timings(model_dir: str, steps: int, batch_size: int, repeats: int = 3) -> dict[str, float]:
    """Median seconds of ``steps`` optimizer steps of each loop over ``repeats`` alternating
    rounds, after one untimed round of each (first-call costs: allocations, kernels)."""
    import statistics

    from toolkit.testing.text import tiny_sentences
    from toolkit.text.tokens import encode, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    texts, labels = tiny_sentences(steps * batch_size, seed=0)
    ids = encode(tokenizer, texts, max_length=64)
    y = torch.tensor(labels)
    loops = {
        "ours": functools.partial(_ours, fused=False),
        "ours_fused": functools.partial(_ours, fused=True),
        "trainer": _trainer,
    }
    missing = trainer_missing()
    if missing:  # the toolkit's loops are still timed; the Trainer's part says why it is absent
        print(f"skipping the Hugging Face Trainer: {missing}")
        del loops["trainer"]
    times: dict[str, list[float]] = {name: [] for name in loops}
    for round_ in range(repeats + 1):
        for name, loop in loops.items():
            seconds = loop(model_dir, ids, y, batch_size, steps)
            if round_:
                times[name].append(seconds)
    median = {name: statistics.median(t) for name, t in times.items()}
    out: dict[str, float] = {"steps": steps}
    for name, seconds in median.items():
        out[f"{name}_steps_per_s"] = steps / seconds
    if "trainer" in median:
        out["ratio_ours_over_trainer"] = median["trainer"] / median["ours"]
        out["ratio_ours_fused_over_trainer"] = median["trainer"] / median["ours_fused"]
    out["ratio_ours_fused_over_ours"] = median["ours"] / median["ours_fused"]
    return out


def trainer_missing() -> str | None:
    """Why ``transformers.Trainer`` cannot run here (``None`` if it can): it needs accelerate,
    which the ``all`` extra does not install."""
    import importlib.util

    if importlib.util.find_spec("accelerate") is None:
        return "it needs accelerate (pip install accelerate), which the all extra does not install"
    return None


def _ours(
    model_dir: str, ids: dict[str, torch.Tensor], y: torch.Tensor, batch_size: int, steps: int, *, fused: bool
) -> float:
    from toolkit.data.base import DataInfo, Split
    from toolkit.models.hf_text import build
    from toolkit.recipe import TrainConfig
    from toolkit.training import train

    info = DataInfo("bench", "text", {}, ["unacceptable", "acceptable"], tokenizer=model_dir)
    torch.manual_seed(0)
    model = build(info, checkpoint=model_dir)
    config = TrainConfig(
        epochs=1, batch_size=batch_size, optimizer="adamw", fused=fused, lr=5e-5, schedule="linear",
        warmup=0.1, clip_norm=1.0,
    )  # fmt: skip
    started = time.perf_counter()
    train(model, Split(ids, y), config, seed=0)
    return time.perf_counter() - started


def _trainer(
    model_dir: str, ids: dict[str, torch.Tensor], y: torch.Tensor, batch_size: int, steps: int
) -> float:
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    hf = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, ignore_mismatched_sizes=True
    )
    rows = [{"input_ids": ids["input_ids"][i], "attention_mask": ids["attention_mask"][i], "labels": y[i]}
            for i in range(len(y))]  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch_size, num_train_epochs=1, learning_rate=5e-5,
            lr_scheduler_type="linear", warmup_steps=int(0.1 * steps), max_grad_norm=1.0, report_to=[],
            save_strategy="no", logging_strategy="no", use_cpu=True, dataloader_num_workers=0,
            disable_tqdm=True,
        )  # fmt: skip
        trainer = Trainer(model=hf, args=args, train_dataset=rows)
        started = time.perf_counter()
        trainer.train()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="../shared/data/models/all-MiniLM-L6-v2")
    parser.add_argument("--sentences", type=int, default=6)
    parser.add_argument("--max-evals", type=int, default=300)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model_dir = args.model
    if not Path(model_dir).is_dir():
        from toolkit.testing.text import tiny_bert

        model_dir = tiny_bert(Path(tempfile.mkdtemp()) / "tiny-bert")
        print(f"{args.model} not found: using the tiny BERT")
    from toolkit.testing.text import tiny_sentences

    sentences, _ = tiny_sentences(args.sentences, seed=1)
    result = {"model": model_dir, "shap": shap_timings(model_dir, sentences, args.max_evals)}
    print(json.dumps(result, indent=2), flush=True)  # shown even if the training part fails
    result["training"] = training_timings(model_dir, args.steps, args.batch_size)
    print(json.dumps({"training": result["training"]}, indent=2))


if __name__ == "__main__":
    main()
