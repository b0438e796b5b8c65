"""Inference latency per classified text: two trained models, the same prompts, interleaved.

    python benchmarks/cls_latency.py --domain finance --runs runs/bench/B/full runs/bench/B/student-sft --n 48

What distillation buys is inference cost; a latency read from two separate evals moves with whatever
else the machine ran meanwhile. Here both models are loaded in one process and scored query by query,
alternating (A, B, B, A, ...), so a busy neighbour slows both alike. Each query is the eval's own work:
the classification prompt rendered in the run's chat format, label log-likelihood scoring
(trainers.evaluation.label_scoring.score_labels). Printed per model: median and mean seconds per query,
GFLOPs per query (cls_eval.loglik_flops), parameters and layers; then the ratio of medians. Threads
are pinned (--threads, default OMP_NUM_THREADS or 1).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_run(run: str, domain: str):
    """(model, tokenizer, chat format) of a run directory, loaded as `kdtune run eval run=...` loads it."""
    from recipes.eval import chat_format, load_model, what_to_load
    from trainers.config.loader import load_config
    cfg = load_config(f"eval/cls_{domain}.yaml", [f"run={run}"], recipe="eval")
    model_cfg, quant, adapter, _ = what_to_load(cfg)
    model, tok = load_model(model_cfg, quant, adapter)
    return model, tok, chat_format(cfg, model_cfg, tok)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domain", default="finance", choices=["manufacturing", "finance", "healthcare"])
    ap.add_argument("--runs", nargs=2, required=True, metavar=("RUN_A", "RUN_B"))
    ap.add_argument("--data", default=None, help="{text, label} JSONL (default: the shipped test split)")
    ap.add_argument("--n", type=int, default=48, help="first N rows to score (each by both models)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from data_tools.cls_tasks import get_task, prompt_chat, read_records, resolve_cls_path
    from trainers.compute.metering import arch_of
    from trainers.evaluation.cls_eval import loglik_flops
    from trainers.evaluation.label_scoring import encode_prompt, score_labels
    from trainers.evaluation.runner import adapter_forward

    task = get_task(args.domain)
    rows = read_records(resolve_cls_path(args.data or f"builtin:cls/{args.domain}"), task)[:args.n]
    arms = []
    for run in args.runs:
        model, tok, fmt = load_run(run, args.domain)
        encoded = [encode_prompt(tok, fmt, prompt_chat(task, r["text"], []), task.labels) for r in rows]
        arch, adapter = arch_of(model), adapter_forward(model)
        arms.append({"run": run, "model": model, "encoded": encoded, "seconds": [],
                     "gflops": sum(loglik_flops(arch, adapter, e)[0] for e in encoded) / len(encoded) / 1e9,
                     "params": sum(p.numel() for p in model.parameters()), "layers": arch.num_layers})
    for a in arms:                                  # warm-up: first calls allocate and pick kernels
        score_labels(a["model"], a["encoded"][0])
    for i in range(len(rows)):
        order = arms if i % 2 == 0 else arms[::-1]   # alternate who goes first
        for a in order:
            t0 = time.perf_counter()
            score_labels(a["model"], a["encoded"][i])
            a["seconds"].append(time.perf_counter() - t0)

    result = {"domain": args.domain, "n": len(rows), "threads": args.threads, "models": []}
    for a in arms:
        result["models"].append({"run": a["run"], "layers": a["layers"], "params_m": a["params"] / 1e6,
                                 "gflops_per_query": a["gflops"],
                                 "median_s_per_query": statistics.median(a["seconds"]),
                                 "mean_s_per_query": statistics.fmean(a["seconds"])})
    a, b = result["models"]
    result["latency_ratio_b_over_a"] = b["median_s_per_query"] / a["median_s_per_query"]
    result["gflops_ratio_b_over_a"] = b["gflops_per_query"] / a["gflops_per_query"]
    print(f"{args.domain}: {len(rows)} queries, each by both models, interleaved; {args.threads} thread(s)")
    print("| model | layers | params (M) | GFLOPs/query | median s/query | mean s/query |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in result["models"]:
        print(f"| {m['run']} | {m['layers']} | {m['params_m']:.0f} | {m['gflops_per_query']:.1f} | "
              f"{m['median_s_per_query']:.3f} | {m['mean_s_per_query']:.3f} |")
    print(f"B/A: latency {result['latency_ratio_b_over_a']:.2f}x, GFLOPs {result['gflops_ratio_b_over_a']:.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    from trainers.errors import UserError
    try:
        sys.exit(main())
    except UserError as e:     # a wrong run directory or domain: one line, as the kdtune CLI says it
        print(f"cls_latency: error: {e}", file=sys.stderr)
        sys.exit(2)
