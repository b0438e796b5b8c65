"""Peak GPU memory of one logit-distillation training step, three ways, in one process:

    cached      top-k teacher targets from memory (what `kd.cache_dir` gives): no teacher weights
    on-the-fly  7B teacher in NF4 + chunked KD (trainers/losses/kd.py), what `kdtune run distill` does
    naive       the same models, full [seq, vocab] fp32 logits of both, F.log_softmax KL + CE

Student: R1-Distill-Qwen-1.5B architecture + LoRA r=16 on all linear layers, bf16 base, gradient
checkpointing; teacher: R1-Distill-Qwen-7B architecture in NF4. Random weights (memory does not
depend on their values), one sequence of --seq tokens, every token trained (the worst case).

    python benchmarks/distill_memory.py                 # CUDA GPU; ~16 GB RAM + disk for the random 7B
    python benchmarks/distill_memory.py --tiny          # tiny models on CPU: exercises the code paths

The random teacher is saved with save_pretrained and reloaded through the recipe's own 4-bit
loader (load_base_model + BitsAndBytesConfig), so the NF4 layout is exactly what a run gets.
Order matters: the cached step runs before the teacher is loaded, so its peak holds no teacher.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from trainers.config.sections import LoraSection, ModelSection, QuantSection  # noqa: E402
from trainers.distill.distill_loss import CachedTeacher, DistillLoss, LiveTeacher  # noqa: E402
from trainers.losses.kd_topk import TopKTargets  # noqa: E402
from trainers.models.arch_catalog import load_arch_config  # noqa: E402
from trainers.models.model_builder import add_lora, load_base_model  # noqa: E402

CONFIG_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
               "intermediate_size", "vocab_size", "tie_word_embeddings", "rope_theta", "rms_norm_eps")
REAL_TOKENS = 151_665          # Qwen2.5 / R1-Distill tokenizer size; the heads pad it to more rows
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, vocab_size=2048, tie_word_embeddings=False)


def qwen2_config(name: str, tiny: bool, **override):
    from transformers import Qwen2Config
    fields = dict(TINY, **override) if tiny else {k: load_arch_config(name)[k] for k in CONFIG_KEYS}
    return Qwen2Config(**fields, max_position_embeddings=32768)


def build_student(device, dtype, tiny: bool):
    from transformers import Qwen2ForCausalLM
    torch.manual_seed(0)
    with torch.device(device):
        prev = torch.get_default_dtype()
        torch.set_default_dtype(dtype)          # build in bf16 directly: no fp32 copy of 1.5B
        try:
            model = Qwen2ForCausalLM(qwen2_config("r1-distill-qwen-1.5b", tiny))
        finally:
            torch.set_default_dtype(prev)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return add_lora(model, LoraSection(enabled=True, r=16, alpha=32, dropout=0.0))


def build_teacher_nf4(device, dtype, tiny: bool, workdir: Path):
    """Random 7B (or tiny) saved to disk in bf16, reloaded in NF4 by the recipe's loader."""
    from transformers import Qwen2ForCausalLM
    out = workdir / "teacher"
    torch.manual_seed(1)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)     # ~15 GB of host RAM for the 7B, not 30
    try:
        # tiny teacher: 128 wide (not 96) — bitsandbytes 0.50's CPU NF4 kernels reject some widths
        # ("shape '[96, 1]' is invalid"); 64 and 128 work, and the teacher must differ from the student
        cfg = qwen2_config("r1-distill-qwen-7b", tiny, **({"hidden_size": 128, "vocab_size": 2048 + 64} if tiny else {}))
        Qwen2ForCausalLM(cfg).save_pretrained(out)
    finally:
        torch.set_default_dtype(prev)
    model, _ = load_base_model(ModelSection(path=str(out)), dtype, device, QuantSection(load_in_4bit=True))
    return model


def batch_of(seq: int, vocab: int, device) -> dict:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (1, seq), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone(),
            "n_targets": torch.tensor(seq - 1), "example_ids": torch.tensor([0])}


class RandomTopK:
    """An in-memory stand-in for TopKCacheReader: k random ids + log-probs per trained token."""
    def __init__(self, rows: int, k: int, vocab: int):
        g = torch.Generator().manual_seed(2)
        ids = torch.stack([torch.randperm(vocab, generator=g)[:k] for _ in range(rows)]).int()
        lp = torch.log_softmax(torch.randn(rows, k + 1, generator=g), -1)
        self.t, self.k, self.temperature, self.dir = TopKTargets(ids, lp[:, :k], lp[:, k], 1.0), k, 1.0, "memory"

    def get(self, ex_id):
        return self.t


def naive_loss(student, teacher, batch, vocab: int, device):
    """The textbook step: full logits of both models in fp32, log_softmax, KL + CE over the vocab."""
    ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    with torch.no_grad():
        t = teacher(input_ids=ids, attention_mask=mask).logits[:, :-1, :vocab].float()
    s = student(input_ids=ids, attention_mask=mask).logits[:, :-1, :vocab].float()
    lt, ls = F.log_softmax(t, -1), F.log_softmax(s, -1)
    kd = (lt.exp() * (lt - ls)).sum()
    ce = F.cross_entropy(s.reshape(-1, vocab), ids[:, 1:].reshape(-1), reduction="sum")
    return 0.5 * ce + 0.5 * kd, kd


def measure(name: str, step, device) -> dict:
    """Run one forward+backward; report peak (and the resident memory before the step)."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated() / 2**30 if cuda else None
    t0 = time.time()
    loss, kd = step()
    loss.backward()
    if cuda:
        torch.cuda.synchronize()
    row = {"mode": name, "kd": float(kd.detach()), "seconds": round(time.time() - t0, 3),
           "resident_gib": round(before, 3) if cuda else None,
           "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None}
    print(json.dumps(row))
    return row


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny models, any device (CPU smoke)")
    ap.add_argument("--seq", type=int, default=None, help="sequence length (default 2048; 128 with --tiny)")
    ap.add_argument("--chunk", type=int, default=256, help="KD chunk size (rows)")
    ap.add_argument("--topk", type=int, default=64)
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not args.tiny:
        ap.error("full-size models need a CUDA GPU; use --tiny on CPU")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    seq = args.seq or (128 if args.tiny else 2048)
    vocab = 2048 if args.tiny else REAL_TOKENS
    batch = batch_of(seq, vocab, device)
    student = build_student(device, dtype, args.tiny)
    loss_kw = dict(kind="forward_kl", beta=0.5, temperature=1.0, ce_weight=0.5, vocab_size=vocab,
                   kd_chunk_size=args.chunk, ce_chunk_size=1024)

    def run(loss_module):
        out = loss_module(batch)
        return out.loss_sum, out.metrics["kd_sum"]

    results = [measure("cached", lambda: run(DistillLoss(student, CachedTeacher(RandomTopK(seq - 1, args.topk, vocab)),
                                                           **loss_kw)), device)]
    student.zero_grad(set_to_none=True)
    with tempfile.TemporaryDirectory() as tmp:
        teacher = build_teacher_nf4(device, dtype, args.tiny, Path(tmp))
    results.append(measure("on-the-fly", lambda: run(DistillLoss(student, LiveTeacher(teacher), **loss_kw)), device))
    student.zero_grad(set_to_none=True)
    results.append(measure("naive", lambda: naive_loss(student, teacher, batch, vocab, device), device))
    a, b = results[1]["kd"], results[2]["kd"]   # same teacher, same tokens: the two KD sums must agree
    print(f"on-the-fly KD {a:.4f} vs naive {b:.4f} (rel diff {abs(a - b) / max(abs(b), 1e-9):.2e})")
    print("| mode | peak GiB | resident before step GiB | step s |\n|---|---|---|---|")
    for r in results:
        print(f"| {r['mode']} | {r['peak_gib'] if r['peak_gib'] is not None else 'n/a (CPU)'} | "
              f"{r['resident_gib'] if r['resident_gib'] is not None else 'n/a'} | {r['seconds']} |")
    print("RESULTS " + json.dumps(results))
    return results


if __name__ == "__main__":
    main()
