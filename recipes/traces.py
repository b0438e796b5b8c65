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

The directory also gets compute.json — the teacher's generation FLOPs (trainers.compute.flops.generation_flops
per sample: prefill + KV-cached decode) and device-seconds, summed over the finished shards (a shard
killed midway is discarded, and so is its bill, as training bills up to its last checkpoint) — and
manifest.json, written last. `kdtune run sft data.path=<this dir>` carries that compute in as `teacher`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from trainers.compute.compute_meter import ComputeMeter
from trainers.compute.cpu import apply_threads, device_clock
from trainers.compute.flops import generation_flops, matmul_params
from trainers.compute.metering import forward_only_breakdown, hardware_profile
from trainers.config.distill import TracesConfig
from trainers.config.loader import dump_config
from trainers.config.sections import ComputeSection
from trainers.distill.trace_generate import HFGenerator, VLLMGenerator
from trainers.distill.trace_prompts import read_prompts, verify, write_jsonl
from trainers.errors import UserError
from trainers.models.precision import COMPUTE_DTYPE, choose_precision
from trainers.run.records import ManifestRecord, write_record
from trainers.run.run_dir import environment_facts

STAT_KEYS = ("prompts", "prompts_too_long", "samples", "verified", "kept", "prompts_with_trace",
             "unfinished", "tokens_generated", "prompt_tokens", "teacher_seconds",
             "teacher_device_seconds", "teacher_flops")


def make_generator(cfg: TracesConfig, device: torch.device, precision: str):
    if cfg.generation.backend == "vllm":
        return VLLMGenerator(cfg.teacher, cfg.generation, cfg.seed)
    from trainers.data.chat_format import configured_format
    from trainers.models.model_builder import load_base_model, load_tokenizer
    tokenizer = load_tokenizer(cfg.teacher)
    fmt = configured_format(cfg.teacher.chat_format, tokenizer)   # before the weights: fails in a second
    model, _ = load_base_model(cfg.teacher, COMPUTE_DTYPE[precision], device, cfg.teacher.quant())
    return HFGenerator(model, tokenizer, cfg.generation, device, fmt)


def teacher_format(cfg: TracesConfig) -> str:
    """The teacher's chat format without loading its weights (a resumed run with every shard done)."""
    from trainers.data.chat_format import configured_format
    from trainers.models.model_builder import load_tokenizer
    return configured_format(cfg.teacher.chat_format, load_tokenizer(cfg.teacher))


def teacher_arch(cfg: TracesConfig, gen):
    """The teacher's FLOP-relevant shape: from the loaded model, or its config (vLLM)."""
    from trainers.compute.metering import arch_of
    if hasattr(gen, "model"):
        return arch_of(gen.model)
    from transformers import AutoConfig
    from trainers.models.arch_spec import ArchSpec
    from trainers.models.model_loading import load_pretrained, resolve_model_source
    source, local_only = resolve_model_source(cfg.teacher.path, cfg.teacher.revision)
    config = load_pretrained(AutoConfig, source, local_only, revision=cfg.teacher.revision,
                             trust_remote_code=cfg.teacher.trust_remote_code)
    return ArchSpec.from_hf_config(config)


def run_shard(cfg: TracesConfig, gen, prompts: list, seed: int, arch=None,
              clock=time.perf_counter) -> tuple[list[dict], dict]:
    """Sample, verify, keep: -> (output rows, the shard's counts). With the teacher's `arch`, its
    generation FLOPs are counted per sample; `clock` reads device-seconds (CPU time on CPU)."""
    stats = dict.fromkeys(STAT_KEYS, 0)
    asked, fits = [], []
    for p in prompts:   # the teacher's generation prompt, rendered as training renders its chats
        ids = gen.prompt(p.messages)
        if len(ids) > cfg.generation.max_prompt_len:
            stats["prompts_too_long"] += 1
            continue
        asked.append(ids)
        fits.append(p)
    lens = [len(ids) for ids in asked]
    t0, d0 = time.time(), clock()
    samples = gen(asked, cfg.generation.samples_per_prompt, seed) if asked else []
    stats["teacher_seconds"] = time.time() - t0
    stats["teacher_device_seconds"] = clock() - d0
    for n, group in zip(lens, samples):   # each sample is its own sequence: prefill + decode
        stats["prompt_tokens"] += n * len(group)
        if arch is not None:
            stats["teacher_flops"] += sum(generation_flops(arch, n, s.n_tokens) for s in group)
    rows = []
    for p, ids, group in zip(fits, asked, samples):
        kept, seen = 0, set()
        opened = gen.opens_think(ids)   # R1: the prompt opened the think block, the trace gets it back
        for j, s in enumerate(group):
            trace = "<think>\n" + s.text.lstrip("\n") if opened else s.text
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
    arch = teacher_arch(cfg, gen) if gen is not None else None
    threads = apply_threads(matmul_params(arch)) if arch is not None and device.type == "cpu" else None
    for k in todo:
        rows, stats = run_shard(cfg, gen, prompts[k * size:(k + 1) * size], cfg.seed * 100_003 + k,
                                arch, device_clock(device.type))
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
    compute = write_record(out, "compute.json", traces_compute(totals, precision, device.type, threads))
    write_record(out, "manifest.json", ManifestRecord(     # last: the traces directory is complete
        recipe="traces", config=config_stem, teacher=cfg.teacher.path, source=source, seed=cfg.seed,
        chat_format=gen.fmt if gen is not None else teacher_format(cfg),
        precision=precision, rows=len(rows), stats=stats,
        compute={"threads": compute["threads"], "threads_reason": compute["threads_reason"],
                 "pflops": compute["pflops"], "device_hours": compute["device_hours"]},
        **environment_facts()))
    print(f"traces complete: {out / 'train.jsonl'}  rows={len(rows)} acceptance={stats['acceptance_rate']:.1%} "
          f"teacher_pflops={compute['pflops']:.3g}")
    return out


def traces_compute(totals: dict, precision: str, device: str, threads):
    """The compute record of all finished shards (their FLOPs and seconds were counted per shard, so
    a resumed run's record equals an uninterrupted one's in tokens and FLOPs)."""
    profile, price, _ = hardware_profile(ComputeSection(), precision)
    meter = ComputeMeter(forward_only_breakdown(0, "generation"), profile, price, device, phase="traces",
                         clock=lambda: 0.0, wall_clock=lambda: 0.0,
                         no_energy="not measured: traces bill FLOPs and seconds per shard")
    if threads is not None:
        meter.threads, meter.threads_reason = threads.threads, threads.reason
    tokens = totals["prompt_tokens"] + totals["tokens_generated"]
    meter.load_state_dict({"tokens": tokens, "target_tokens": totals["tokens_generated"],
                           "total_flops": totals["teacher_flops"], "model_flops": totals["teacher_flops"],
                           "extra_flops": totals["teacher_flops"], "teacher_flops": 0,
                           "buckets": {"train": [totals["teacher_device_seconds"], totals["teacher_seconds"], 0.0]}})
    return meter.record()
