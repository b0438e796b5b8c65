"""Run a classification task on one loaded model -> the eval.json body (accuracy, CI, confusion, cost).

Each item's prompt is data_tools.cls_tasks.prompt_chat (k solved shots from the shot pool, never
the item itself) rendered by the model's chat format; it is then scored over the label set
(`loglik`, label_scoring) or answered freely and matched exactly (`generate`, label_generation).
Accuracy counts every item (an answer that is no label is wrong and tallied as missing) with a
95% interval; per-label recall comes with its own interval, precision/recall/F1 and the confusion
matrix come from cls_metrics.

FLOPs follow trainers.compute.flops conventions for the work done, padding excluded: `loglik` = one prefill
of the context (head only at its last position) + each label's fed tokens (all but its last)
attending to the context and themselves, head at each; `generate` = generation_flops. An unmerged
LoRA adapter adds its forward cost on every token fed. `per_query` gives the inference cost a
deployment pays per classified text (GFLOPs and measured seconds), which is what distillation buys.
"""
from __future__ import annotations

import time
from typing import Sequence

from data_tools.cls_tasks import ClsTask, prompt_chat, select_shots
from trainers.compute.compute_meter import ComputeMeter
from trainers.evaluation.accuracy import ItemResult, summarize
from trainers.evaluation.cls_metrics import confusion_matrix, per_label_scores
from trainers.evaluation.label_generation import default_max_new_tokens, generate_label
from trainers.evaluation.label_scoring import (EncodedPrompt, argmax, encode_prompt, normalise_scores,
                                               score_labels)
from trainers.evaluation.runner import adapter_forward
from trainers.compute.flops import (attention_forward_flops_per_token, block_matmul_params, generation_flops,
                            lm_head_params)
from trainers.compute.metering import arch_of, forward_only_breakdown


def loglik_flops(arch, adapter: int, enc: EncodedPrompt) -> tuple[int, int]:
    """-> (FLOPs, tokens fed) of score_labels on one encoded prompt (module docstring)."""
    block, head, per_key = 2 * block_matmul_params(arch), 2 * lm_head_params(arch), \
        attention_forward_flops_per_token(arch, 1)
    flops = tokens = 0
    for ctx in {tuple(c) for c in enc.contexts}:
        n = len(ctx)
        flops += n * (block + adapter + per_key * n) + head
        tokens += n
        for c, own in zip(enc.continuations, enc.contexts):
            if tuple(own) != ctx:
                continue
            for t in range(len(c) - 1):           # fed token t sits at position n + t and sees n + t + 1 keys
                flops += block + adapter + head + per_key * (n + t + 1)
            tokens += len(c) - 1
    return flops, tokens


def evaluate_classification(model, tokenizer, fmt: str, task: ClsTask, items: Sequence[dict],
                            shot_pool: Sequence[dict], spec, profile: dict, price: float | None,
                            device: str) -> dict:
    """`spec` is a ClassifySection; `items` and `shot_pool` are {"text", "label"} records."""
    meter = ComputeMeter(forward_only_breakdown(0, "eval"), profile, price, device)
    arch, adapter = arch_of(model), adapter_forward(model)
    was_training = model.training
    model.eval()
    meter.start()
    t0 = time.perf_counter()
    gold, predicted, results, examples = [], [], [], []
    flops = tokens = 0
    try:
        for i, rec in enumerate(items):
            shots = select_shots(rec["text"], shot_pool, spec.k_shot, spec.seed)
            enc = encode_prompt(tokenizer, fmt, prompt_chat(task, rec["text"], shots), task.labels)
            if spec.scoring == "loglik":
                sums = score_labels(model, enc, spec.batch_size)
                scores = normalise_scores(sums, enc.continuations, task.labels, spec.normalise)
                pred, answer = argmax(scores), None
                f, t = loglik_flops(arch, adapter, enc)
            else:
                ans = generate_label(model, tokenizer, enc, task.labels,
                                     spec.max_new_tokens or default_max_new_tokens(enc))
                pred, answer, scores = ans.label, ans.text, None
                f = generation_flops(arch, len(enc.prompt), ans.new_tokens) + \
                    adapter * (len(enc.prompt) + ans.new_tokens - 1)
                t = len(enc.prompt) + ans.new_tokens - 1
            flops, tokens = flops + f, tokens + t
            g = task.labels.index(rec["label"])
            gold.append(g)
            predicted.append(pred)
            results.append(ItemResult(f"{i:05d}", rec["label"], pred == g, pred is not None))
            if len(examples) < spec.keep_outputs:
                ex = {"id": f"{i:05d}", "text": rec["text"][:200], "gold": rec["label"],
                      "predicted": None if pred is None else task.labels[pred], "shots": len(shots),
                      "prompt_tokens": len(enc.prompt)}
                ex.update({"scores": [round(s, 4) for s in scores]} if scores is not None else {"answer": answer})
                examples.append(ex)
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - t0
    meter.add_tokens(tokens, extra_flops=flops)
    meter.pause()
    compute = meter.snapshot()
    compute.pop("flops_per_token")
    summary = summarize(results, spec.interval, spec.seed)
    conf = confusion_matrix(gold, predicted, task.labels)
    n = len(items)
    return {
        "task": task.domain, "description": task.description, "labels": list(task.labels),
        "scoring": spec.scoring, "normalise": spec.normalise if spec.scoring == "loglik" else None,
        "k_shot": spec.k_shot, "chat_format": fmt, "chance": 1 / len(task.labels),
        "accuracy": summary["overall"]["accuracy"], "ci95": summary["overall"]["ci95"], "n": n,
        "correct": summary["overall"]["correct"], "missing": summary["overall"]["missing"],
        "interval": summary["interval"], "overall": summary["overall"],
        "per_category": summary["per_category"],    # per gold label: its recall with an interval
        **per_label_scores(conf), "confusion": conf,
        "per_query": {"gflops": flops / n / 1e9, "seconds": seconds / n, "tokens": tokens / n},
        "examples": examples, "compute": compute,
        # every item's outcome, not only the kept examples: two arms scored on the same items can
        # then be compared item by item (trainers/evaluation/paired.py)
        "predictions": [{"id": f"{i:05d}", "gold": task.labels[g], "predicted": None if p is None else task.labels[p]}
                        for i, (g, p) in enumerate(zip(gold, predicted))],
    }
