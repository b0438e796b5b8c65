"""Trace distillation, step 1: the teacher writes reasoning traces; only verified ones are kept.

    kdtune run traces                                              # tiny teacher, synthetic finance, CPU
    kdtune run traces --config configs/finance/r1-distill-qwen-7b_to_1.5b_traces_24gb.yaml data.path=qa.jsonl
    kdtune run sft --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml data.path=data/traces/finance

For each prompt the teacher samples generation.samples_per_prompt completions (`<think>…</think>`
then the answer; temperature 0.6, top_p 0.95 by default). Rejection sampling keeps a completion only
if its final answer verifies against the row's gold answer (number within tolerance, MCQ letter, or
exact text), at most generation.keep_per_prompt per prompt. The output directory holds train.jsonl
(chat rows, the trace — `<think>` included — as the assistant turn; `kdtune run sft` trains on it
with the think block in the loss) and stats.json (acceptance rate, tokens, teacher seconds).

Work is cut into shards of generation.shard_size prompts, each written whole (rows, then its stats
file last) with its own seed: a killed run resumes at the first missing shard and gives the same
rows as an uninterrupted one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from trainers.config.distill import TracesConfig
from trainers.config.loader import dump_config
from trainers.errors import UserError
from trainers.precision import COMPUTE_DTYPE, choose_precision
from trainers.trace_generate import HFGenerator, VLLMGenerator, prompt_text
from trainers.trace_prompts import read_prompts, verify, write_jsonl

STAT_KEYS = ("prompts", "prompts_too_long", "samples", "verified", "kept", "prompts_with_trace",
             "unfinished", "tokens_generated", "teacher_seconds")


def make_generator(cfg: TracesConfig, device: torch.device, precision: str):
    if cfg.generation.backend == "vllm":
        return VLLMGenerator(cfg.teacher, cfg.generation, cfg.seed)
    from trainers.model_builder import load_base_model, load_tokenizer
    model, _ = load_base_model(cfg.teacher, COMPUTE_DTYPE[precision], device, cfg.teacher.quant())
    return HFGenerator(model, load_tokenizer(cfg.teacher), cfg.generation, device)


def run_shard(cfg: TracesConfig, gen, prompts: list, seed: int) -> tuple[list[dict], dict]:
    """Sample, verify, keep: -> (output rows, the shard's counts)."""
    stats = dict.fromkeys(STAT_KEYS, 0)
    texts, fits = [], []
    for p in prompts:
        text = prompt_text(gen.tok, p.messages)
        if gen.prompt_len(text) > cfg.generation.max_prompt_len:
            stats["prompts_too_long"] += 1
            continue
        texts.append(text)
        fits.append(p)
    t0 = time.time()
    samples = gen(texts, cfg.generation.samples_per_prompt, seed) if texts else []
    stats["teacher_seconds"] = time.time() - t0
    rows = []
    for p, group in zip(fits, samples):
        kept, seen = 0, set()
        for j, s in enumerate(group):
            trace = "<think>\n" + s.text.lstrip("\n")   # the prompt opened the think block
            ok, value = verify(p, trace, cfg.verify.rel_tol)
            stats["samples"] += 1
            stats["tokens_generated"] += s.n_tokens
            stats["unfinished"] += not s.finished
            stats["verified"] += ok
            if ok and kept < cfg.generation.keep_per_prompt and trace not in seen:
                seen.add(trace)
                kept += 1
                rows.append({"messages": p.messages + [{"role": "assistant", "content": trace}],
                             "meta": {"source_index": p.index, "sample": j, "answer": p.gold,
                                      "answer_kind": p.kind, "extracted": value}})
        stats["prompts_with_trace"] += kept > 0
        stats["kept"] += kept
    stats["prompts"] = len(prompts)
    return rows, stats


def run(cfg: TracesConfig, config_stem: str) -> Path:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = choose_precision(cfg.precision, device)
    out = Path(cfg.output.dir)
    shards = out / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    # Shards from another config must not be mixed in: the settings are part of the directory.
    settings = dump_config(cfg.model_copy(update={"description": ""}))
    settings_file = out / "traces_config.yaml"
    if settings_file.is_file() and settings_file.read_text(encoding="utf-8") != settings:
        raise UserError(f"{out} holds traces made with other settings ({settings_file}); choose a new "
                        f"output.dir or delete the old one")
    settings_file.write_text(settings, encoding="utf-8")

    prompts, skipped, source = read_prompts(cfg.data.path, cfg.seed, cfg.verify.kind, cfg.data.max_examples)
    size = cfg.generation.shard_size
    todo = [k for k in range(0, (len(prompts) + size - 1) // size)
            if not (shards / f"shard-{k:05d}.stats.json").is_file()]
    print(f"traces: {len(prompts)} prompts from {source} in {(len(prompts) + size - 1) // size} shards, "
          f"{len(todo)} to generate -> {out}")
    gen = make_generator(cfg, device, precision) if todo else None
    for k in todo:
        rows, stats = run_shard(cfg, gen, prompts[k * size:(k + 1) * size], cfg.seed * 100_003 + k)
        write_jsonl(shards / f"shard-{k:05d}.jsonl", rows)
        (shards / f"shard-{k:05d}.stats.json").write_text(json.dumps(stats))   # last: the shard is done
        print(f"shard {k}: kept {stats['kept']}/{stats['samples']} samples "
              f"({stats['prompts_with_trace']}/{stats['prompts']} prompts)")

    # assemble train.jsonl and stats.json from every shard (also after a resume)
    n_shards = (len(prompts) + size - 1) // size
    rows, totals = [], dict.fromkeys(STAT_KEYS, 0)
    for k in range(n_shards):
        text = (shards / f"shard-{k:05d}.jsonl").read_text(encoding="utf-8")
        rows += [json.loads(line) for line in text.splitlines()]
        for key, v in json.loads((shards / f"shard-{k:05d}.stats.json").read_text()).items():
            totals[key] += v
    write_jsonl(out / "train.jsonl", rows)
    totals["teacher_seconds"] = round(totals["teacher_seconds"], 3)
    stats = {**totals, "rows_skipped_no_gold": len(skipped),
             "acceptance_rate": totals["verified"] / totals["samples"] if totals["samples"] else 0.0,
             "prompt_yield": totals["prompts_with_trace"] / totals["prompts"] if totals["prompts"] else 0.0,
             "teacher_gpu_seconds": totals["teacher_seconds"] if device.type == "cuda" else 0.0,
             "device": device.type, "teacher": cfg.teacher.path, "source": source, "config": config_stem}
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"traces complete: {out / 'train.jsonl'}  rows={len(rows)} acceptance={stats['acceptance_rate']:.1%}")
    return out
