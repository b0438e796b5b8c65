"""Run the teacher once over the distillation data and cache its top-k log-probabilities.

    kdtune run distill-cache --config configs/smoke/tiny_distill_cache.yaml
    kdtune run distill-cache --config my_distill.yaml recipe=distill-cache kd.cache_dir=cache/fin kd.topk=64

Reads the same config sections as `kdtune run distill` (the student's tokenizer and the data decide
the examples; its weights are not loaded) and writes kd.cache_dir: sharded safetensors, then
index.json last (trainers/distill/distill_cache.py). Killed midway, the same command resumes: whole shards
already written are kept and their examples skipped. Training then reads the cache with
`kdtune run distill` and kd.cache_dir set; the teacher is not loaded at all.

The directory also gets compute.json (the teacher's FLOPs — blocks over every input token at the
example's own length, head over its trained positions; padding not counted — and device-seconds,
summed over every invocation: work redone after a kill is billed, it was really done) and
manifest.json, written last. A run that trains from the cache carries that compute in as `teacher`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from trainers.compute.compute_meter import ComputeMeter
from trainers.config.distill import DistillCacheConfig
from trainers.config.sections import ComputeSection
from trainers.data.chat_format import IGNORE, detect_format
from trainers.distill.distill_cache import INDEX_NAME, TopKCacheWriter
from trainers.distill.distill_setup import (cache_meta, check_teacher_vocab, load_distill_data, load_teacher,
                                    vocab_sha256)
from trainers.compute.flops import sequence_forward_flops
from trainers.compute.metering import arch_of, forward_only_breakdown, hardware_profile, set_threads
from trainers.data.sft_data import collate
from trainers.errors import UserError
from trainers.losses.kd_topk import TopKTargets, compute_topk
from trainers.models.model_builder import causal_lm_parts, load_tokenizer
from trainers.models.precision import COMPUTE_DTYPE, choose_precision
from trainers.run.records import ManifestRecord, write_record
from trainers.run.run_dir import environment_facts

METER_STATE = "meter_state.json"   # the meter between invocations (a killed run resumes it)


class _Notes:
    """Where load_sft_data puts skipped rows: next to the cache instead of a run directory."""
    def __init__(self, path: Path):
        self.path = path

    def write_text(self, name: str, text: str) -> None:
        (self.path / name).write_text(text, encoding="utf-8")


@torch.no_grad()
def teacher_topk(model, examples: list, pad_id: int, k: int, vocab_size: int, temperature: float,
                 chunk_size: int, device) -> list:
    """Top-k targets of each example's trained rows (position t predicting label t+1), in order."""
    decoder, head = causal_lm_parts(model)
    batch = collate(examples, pad_id)
    hidden = decoder(input_ids=batch["input_ids"].to(device),
                     attention_mask=batch["attention_mask"].to(device)).last_hidden_state
    mask = batch["labels"][:, 1:] != IGNORE
    out = []
    for b in range(len(examples)):
        h = hidden[b, :-1][mask[b].to(device)]
        parts = [compute_topk(h[s:s + chunk_size] @ head.weight.T, k, vocab_size, temperature=temperature,
                              chunk_size=chunk_size) for s in range(0, max(h.shape[0], 1), chunk_size)]
        out.append(parts[0] if len(parts) == 1 else TopKTargets(
            torch.cat([p.indices for p in parts]), torch.cat([p.logprobs for p in parts]),
            torch.cat([p.tail_logprob for p in parts]), temperature))
    return out


def run(cfg: DistillCacheConfig, config_stem: str) -> Path:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = choose_precision(cfg.train.precision, device)
    torch.manual_seed(cfg.train.seed)
    out_dir = Path(cfg.kd.cache_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # the student's tokenizer makes the examples exactly as the distill run will
    tokenizer = load_tokenizer(cfg.model)
    fmt = cfg.model.chat_format if cfg.model.chat_format != "auto" else detect_format(tokenizer)
    train_ex, eval_ex, counts = load_distill_data(cfg, tokenizer, fmt, _Notes(out_dir))
    report, _ = check_teacher_vocab(cfg.kd.teacher, tokenizer, len(tokenizer))
    if not 0 < cfg.kd.topk < report.kd_vocab_size:
        raise UserError(f"kd.topk={cfg.kd.topk} must be below the shared vocabulary ({report.kd_vocab_size}) "
                        "so that a tail bucket remains")
    model, source = load_teacher(cfg.kd.teacher, COMPUTE_DTYPE[precision], device)
    meta = cache_meta(cfg, source, report.kd_vocab_size, vocab_sha256(tokenizer, report.kd_vocab_size), counts, fmt)
    writer = TopKCacheWriter(out_dir, cfg.kd.topk, cfg.cache.shard_size_tokens, meta, dtype=cfg.cache.dtype)
    meter = teacher_meter(model, cfg.compute, precision, out_dir)
    todo = [e for e in train_ex + eval_ex if e.example_id not in writer]
    print(f"distill-cache: {len(train_ex) + len(eval_ex) - len(todo)} examples already cached, "
          f"{len(todo)} to go -> {out_dir}")
    t0, tokens = time.time(), 0
    arch = arch_of(model)
    with writer:   # an exception keeps finished shards for a resume, without writing index.json
        for start in range(0, len(todo), cfg.cache.batch_size):
            chunk = todo[start:start + cfg.cache.batch_size]
            for ex, targets in zip(chunk, teacher_topk(model, chunk, tokenizer.pad_token_id, cfg.kd.topk,
                                                       report.kd_vocab_size, cfg.kd.temperature,
                                                       cfg.kd.chunk_size, device)):
                writer.add_targets(ex.example_id, targets)
                tokens += len(targets)
                meter.add_tokens(len(ex.input_ids), target_tokens=len(targets),
                                 extra_flops=sequence_forward_flops(arch, len(ex.input_ids), len(targets)))
            (out_dir / METER_STATE).write_text(json.dumps(meter.state_dict()))
    meter.pause()
    seconds = time.time() - t0
    stats = {"examples": writer.num_examples, "computed_now": len(todo), "tokens_computed_now": tokens,
             "teacher_seconds": round(seconds, 3), "device": device.type, "precision": precision,
             "vocab": report.summary(), "config": config_stem}
    (out_dir / "cache_stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    compute = write_record(out_dir, "compute.json", meter.record())
    (out_dir / METER_STATE).write_text(json.dumps(meter.state_dict()))
    write_record(out_dir, "manifest.json", ManifestRecord(   # last: the cache is complete
        recipe="distill-cache", config=config_stem, teacher=cfg.kd.teacher.path, teacher_source=source,
        precision=precision, examples=writer.num_examples, data=counts,
        compute={"threads": compute["threads"], "threads_reason": compute["threads_reason"],
                 "pflops": compute["pflops"], "device_hours": compute["device_hours"]},
        **environment_facts()))
    print(f"cache complete: {out_dir / INDEX_NAME}  examples={writer.num_examples} "
          f"new_tokens={tokens} seconds={seconds:.1f} teacher_pflops={compute['pflops']:.3g}")
    return out_dir


def teacher_meter(model, compute: ComputeSection, precision: str, out_dir: Path) -> ComputeMeter:
    """A forward-only meter (FLOPs per example are exact, passed as extra), resumed from the state a
    previous invocation left in `out_dir`; CPU threads chosen for the teacher's size."""
    profile, price, device = hardware_profile(compute, precision)
    meter = ComputeMeter(forward_only_breakdown(0, "teacher forward"), profile, price, device,
                         phase="distill-cache")
    set_threads(meter, model)
    if (out_dir / METER_STATE).is_file():
        meter.load_state_dict(json.loads((out_dir / METER_STATE).read_text()))
    meter.start()
    return meter
