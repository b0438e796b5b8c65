"""kdtune next to what users would otherwise write: same model, data, LoRA settings and steps.

    python benchmarks/vs_peers.py --domain finance --steps 30 --out vs_peers.json   # real Gemma 3 270M, CPU
    python benchmarks/vs_peers.py --tiny --steps 3                                   # tiny model, seconds

Arms, each in its own process (so peak RSS is its own; os.wait4 reads the child's ru_maxrss):
  kdtune   `kdtune run sft` with the domain's LoRA CPU config (chunked output head: logits only for
           the label tokens, never the full [tokens x 262k] matrix).
  hf_peft  transformers + PEFT as their documentation shows it: from_pretrained, get_peft_model, a
           plain loop of `model(input_ids, attention_mask, labels=labels).loss` (full logits),
           loss / grad_accum, backward, clip, AdamW, cosine schedule with warm-up.
  trl      TRL's SFTTrainer with the same LoraConfig, on the same token ids (completion-only loss).
All three train on exactly the same token sequences (the classification prompt rendered by kdtune's
chat renderer, label as the answer), the same micro-batch, accumulation, lr and steps; the peers get
kdtune's batch order (TRL samples its own order from the same rows). Threads are pinned to the same
count in every arm. Figures: input tokens/s over the training steps (model loading excluded) and the
median of the per-step rates (a busy neighbour slows some steps; the median barely moves), peak
RSS of the whole process, final training loss, and accuracy of the trained adapter on the test split
scored by kdtune's constrained classification eval (the same scorer for every arm).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------- data shared by every arm
def build_spec(args, workdir: Path) -> dict:
    """Token sequences in kdtune's order + the settings every arm uses, written to spec.json."""
    from data_tools.cls_tasks import get_task, read_records, resolve_cls_path, training_chat
    from trainers.data.chat_format import detect_format, tokenize_chat
    from trainers.config.loader import load_config
    from trainers.config.sections import ModelSection
    from trainers.models.model_builder import load_tokenizer
    from trainers.models.model_loading import resolve_model_source
    from trainers.data.sft_data import BatchPlan

    task = get_task(args.domain)
    rows = read_records(resolve_cls_path(f"builtin:cls/{args.domain}/train"), task)
    source, _ = resolve_model_source(args.model)
    tok = load_tokenizer(ModelSection(path=args.model))
    # the chat format kdtune's config trains with (Gemma 3 270M base: plain), so every arm trains
    # and is scored on the same tokens
    configured = load_config(kdtune_config(args), [f"model.path={args.model}"], recipe="sft").model.chat_format
    fmt = configured if configured != "auto" else detect_format(tok)
    seqs = []
    for r in rows:
        ids, labels = tokenize_chat(training_chat(r, task), tok, fmt, args.max_seq_len, True)
        seqs.append({"input_ids": ids, "labels": labels})
    plan = BatchPlan(len(seqs), args.micro_batch, 1, 0, args.seed)
    order = [i for m in range(args.steps * args.grad_accum) for i in plan.micro_batch(m)[1]]
    spec = {"model_dir": source, "model": args.model, "domain": args.domain, "chat_format": fmt,
            "steps": args.steps, "micro_batch": args.micro_batch, "grad_accum": args.grad_accum,
            "lr": args.lr, "warmup_ratio": 0.03, "min_lr_ratio": 0.0, "r": args.r, "alpha": 2 * args.r,
            "dropout": 0.0, "targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                        "down_proj"],
            "seed": args.seed, "threads": args.threads, "pad_id": tok.pad_token_id,
            "sequences": [seqs[i] for i in order]}
    (workdir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return spec


def batches(spec: dict):
    """Micro-batches of the spec's sequences, collated as kdtune's loop collates them (right-padded,
    labels -100 where nothing is trained), so every arm sees identical tensors."""
    from trainers.data.sft_data import Example, collate
    seqs, mb = spec["sequences"], spec["micro_batch"]
    for s in range(0, len(seqs), mb):
        batch = collate([Example(c["input_ids"], c["labels"]) for c in seqs[s:s + mb]], spec["pad_id"])
        yield batch["input_ids"], batch["attention_mask"], batch["labels"]


def lora_config(spec: dict):
    from peft import LoraConfig
    return LoraConfig(r=spec["r"], lora_alpha=spec["alpha"], lora_dropout=spec["dropout"],
                      target_modules=spec["targets"], task_type="CAUSAL_LM")


# ---------------------------------------------------------------- peer arms (run in a child process)
def arm_hf_peft(spec: dict, out: Path) -> dict:
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, get_cosine_schedule_with_warmup
    torch.manual_seed(spec["seed"])
    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32)
    model = get_peft_model(model, lora_config(spec))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=spec["lr"])
    sched = get_cosine_schedule_with_warmup(opt, int(spec["warmup_ratio"] * spec["steps"]), spec["steps"])
    it, tokens, losses, step_seconds, step_tokens = batches(spec), 0, [], [], []
    t0 = time.perf_counter()
    for _ in range(spec["steps"]):
        step_loss, t_step, n_step = 0.0, time.perf_counter(), 0
        for _ in range(spec["grad_accum"]):
            ids, att, lab = next(it)
            loss = model(input_ids=ids, attention_mask=att, labels=lab).loss / spec["grad_accum"]
            loss.backward()
            step_loss += float(loss)
            n_step += int(att.sum())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(step_loss)
        tokens += n_step
        step_seconds.append(time.perf_counter() - t_step)
        step_tokens.append(n_step)
    seconds = time.perf_counter() - t0
    model.save_pretrained(out / "adapter")
    return {"tokens": tokens, "train_seconds": seconds, "final_loss": losses[-1], "losses": losses,
            "step_seconds": step_seconds, "step_tokens": step_tokens, "adapter": str(out / "adapter")}


def arm_trl(spec: dict, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    class StepClock(TrainerCallback):
        """Wall seconds of each optimizer step (TRL logs tokens per step, not time)."""
        def __init__(self):
            self.seconds, self._t = [], None

        def on_step_begin(self, *a, **k):
            self._t = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.seconds.append(time.perf_counter() - self._t)
    # kdtune's labels[i] is input_ids[i] where token i is trained (transformers shifts inside the
    # loss); TRL's completion_mask marks the same positions
    rows = [{"input_ids": s["input_ids"], "completion_mask": [int(t != -100) for t in s["labels"]]}
            for s in spec["sequences"]]
    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(spec["model_dir"])
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    cfg = SFTConfig(output_dir=str(out / "trl"), max_steps=spec["steps"], learning_rate=spec["lr"],
                    per_device_train_batch_size=spec["micro_batch"],
                    gradient_accumulation_steps=spec["grad_accum"], lr_scheduler_type="cosine",
                    warmup_steps=int(spec["warmup_ratio"] * spec["steps"]), max_grad_norm=1.0, logging_steps=1,
                    save_strategy="no", report_to=[], use_cpu=True, seed=spec["seed"],
                    completion_only_loss=True, max_length=None, dataloader_num_workers=0,
                    include_num_input_tokens_seen=True, bf16=False, fp16=False,
                    gradient_checkpointing=False)
    clock = StepClock()
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(rows),
                         processing_class=tok, peft_config=lora_config(spec), callbacks=[clock])
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    trainer.model.save_pretrained(out / "adapter")
    # TRL's own clock and its count of real (non-padding) tokens: num_input_tokens_seen counts pads
    seen = [float(h["num_tokens"]) for h in trainer.state.log_history if "num_tokens" in h]
    tokens = max(seen)
    step_tokens = [b - a for a, b in zip([0.0] + seen[:-1], seen)]   # logging_steps=1: one entry a step
    return {"tokens": int(tokens), "train_seconds": float(result.metrics["train_runtime"]),
            "wall_seconds_incl_setup": seconds,
            "final_loss": losses[-1] if losses else None, "losses": losses,
            "step_seconds": clock.seconds, "step_tokens": step_tokens, "adapter": str(out / "adapter")}


# ---------------------------------------------------------------- kdtune arm
def kdtune_config(args) -> str:
    return args.kdtune_config or f"{args.domain}/gemma3-270m_lora_cpu.yaml"


def kdtune_command(args, spec: dict, out: Path) -> list[str]:
    return [sys.executable, "-m", "recipes.cli", "run", "sft", "--config", kdtune_config(args),
            f"model.path={args.model}", f"model.chat_format={spec['chat_format']}",
            f"data.path=builtin:cls/{args.domain}", "data.eval_fraction=0",
            f"data.max_seq_len={args.max_seq_len}", f"train.max_steps={spec['steps']}",
            f"train.micro_batch_size={spec['micro_batch']}", f"train.grad_accum={spec['grad_accum']}",
            f"train.lr={spec['lr']}", f"train.seed={spec['seed']}", "train.min_lr_ratio=0.0",
            "train.warmup_ratio=0.03", "train.save_every=0", "train.log_every=1", "train.gradient_checkpointing=false",
            "lora.enabled=true", f"lora.r={spec['r']}", f"lora.alpha={spec['alpha']}", "lora.dropout=0.0",
            f"lora.target_modules={json.dumps(spec['targets'])}", "eval.every_steps=0",
            f"output.dir={out.parent}", f"output.name={out.name}"]


def kdtune_figures(run: Path, expected_steps: int) -> dict:
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = [m for m in metrics if "loss" in m]
    if len(steps) != expected_steps:   # every step must be logged (train.log_every=1) to count tokens
        raise RuntimeError(f"{run}: {len(steps)} logged steps, expected {expected_steps}")
    elapsed = [m["elapsed_s"] for m in steps]
    return {"tokens": sum(m["tokens"] for m in steps), "train_seconds": elapsed[-1],
            "final_loss": steps[-1]["loss"], "losses": [m["loss"] for m in steps],
            "step_seconds": [b - a for a, b in zip([0.0] + elapsed[:-1], elapsed)],
            "step_tokens": [m["tokens"] for m in steps], "adapter": str(run / "adapter")}


def median_step_speed(figures: dict) -> float | None:
    """Median over optimizer steps (the first, warm-up, left out) of that step's tokens / seconds: on a
    shared machine a neighbour's burst slows a few steps, which moves the overall rate but not this."""
    rates = sorted(t / s for t, s in zip(figures.get("step_tokens", [])[1:], figures.get("step_seconds", [])[1:])
                   if s > 0)
    if not rates:
        return None
    mid = len(rates) // 2
    return rates[mid] if len(rates) % 2 else (rates[mid - 1] + rates[mid]) / 2


# ---------------------------------------------------------------- orchestration
def run_child(cmd: list[str], env: dict, log: Path) -> tuple[int, float]:
    """-> (exit status, peak RSS in MiB of that child) via wait4, which returns its own rusage."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def evaluate(args, arm: str, adapter: str, workdir: Path, env: dict, fmt: str) -> dict | None:
    """Accuracy of an arm's adapter on the test split by kdtune's constrained eval (one scorer for all)."""
    cmd = [sys.executable, "-m", "recipes.cli", "run", "eval", "--config", f"eval/cls_{args.domain}.yaml",
           f"model.path={args.model}", f"model.chat_format={fmt}", f"adapter={adapter}", f"output.dir={workdir / 'evals'}",
           f"output.name={arm}"]
    if args.eval_n:
        cmd.append(f"data.n={args.eval_n}")
    code, _ = run_child(cmd, env, workdir / f"{arm}-eval.log")
    report = workdir / "evals" / arm / "eval.json"
    if code != 0 or not report.is_file():
        return None
    ev = json.loads(report.read_text())
    return {"accuracy": ev["accuracy"], "ci95": ev["ci95"], "n": ev["n"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domain", default="finance", choices=["manufacturing", "finance", "healthcare"])
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--tiny", action="store_true", help="tiny:qwen2 and the smoke LoRA config (seconds)")
    ap.add_argument("--kdtune-config", default=None)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--max-seq-len", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--arms", default="kdtune,hf_peft,trl")
    ap.add_argument("--eval-n", type=int, default=None, help="score only the first N test rows (default all)")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--out", default=None, help="write the results JSON here")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--_arm", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tiny:
        args.model, args.kdtune_config = "tiny:qwen2", args.kdtune_config or "smoke/tiny_lora.yaml"

    if args._arm:   # child process: one peer arm
        import torch
        workdir = Path(args.workdir)
        spec = json.loads((workdir / "spec.json").read_text())
        torch.set_num_threads(spec["threads"])
        out = workdir / args._arm
        out.mkdir(parents=True, exist_ok=True)
        res = {"hf_peft": arm_hf_peft, "trl": arm_trl}[args._arm](spec, out)
        (out / "result.json").write_text(json.dumps(res))
        return 0

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="vs_peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    spec = build_spec(args, workdir)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), KDTUNE_THREADS=str(args.threads),
               PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    results = {}
    for arm in args.arms.split(","):
        print(f"== {arm} ==", flush=True)
        out = workdir / arm
        if arm == "kdtune":
            code, rss = run_child(kdtune_command(args, spec, out), env, workdir / "kdtune.log")
            figures = kdtune_figures(out, spec["steps"]) if code == 0 else None
        else:
            cmd = [sys.executable, __file__, "--_arm", arm, "--workdir", str(workdir)]
            code, rss = run_child(cmd, env, workdir / f"{arm}.log")
            figures = json.loads((out / "result.json").read_text()) if code == 0 else None
        if figures is None:
            results[arm] = {"status": "failed", "log": str(workdir / f"{arm}.log")}
            print(f"{arm} failed: see {workdir / f'{arm}.log'}", flush=True)
            continue
        figures.update(status="ok", peak_rss_mib=rss, tokens_per_s=figures["tokens"] / figures["train_seconds"],
                       median_step_tokens_per_s=median_step_speed(figures))
        if not args.no_eval:
            figures["eval"] = evaluate(args, arm, figures["adapter"], workdir, env, spec["chat_format"])
        results[arm] = figures
        print(json.dumps({k: v for k, v in figures.items() if k not in ("losses", "step_seconds", "step_tokens")}),
              flush=True)
    table = summarise(results, spec)
    print(table)
    if args.out:
        Path(args.out).write_text(json.dumps({"settings": {k: v for k, v in spec.items() if k != "sequences"},
                                              "results": results}, indent=2, ensure_ascii=False))
    return 0 if all(r.get("status") == "ok" for r in results.values()) else 1


def summarise(results: dict, spec: dict) -> str:
    base = results.get("hf_peft", {})
    lines = [f"model {spec['model']}, {spec['domain']}: {spec['steps']} steps x {spec['micro_batch']} x "
             f"{spec['grad_accum']}, LoRA r{spec['r']}, {spec['threads']} threads",
             "| arm | tokens/s (all steps) | x plain HF | tokens/s (median step) | x plain HF | peak RSS MiB "
             "| x plain HF | final loss | accuracy (95% CI) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arm, r in results.items():
        if r.get("status") != "ok":
            lines.append(f"| {arm} | failed | | | | | | | |")
            continue
        ok = base.get("status") == "ok"
        speed = r["tokens_per_s"] / base["tokens_per_s"] if ok else math.nan
        med, base_med = r.get("median_step_tokens_per_s"), base.get("median_step_tokens_per_s")
        med_speed = med / base_med if ok and med and base_med else math.nan
        mem = r["peak_rss_mib"] / base["peak_rss_mib"] if base.get("status") == "ok" else math.nan
        ev = r.get("eval")
        acc = f"{ev['accuracy']:.3f} ({ev['ci95'][0]:.3f}–{ev['ci95'][1]:.3f}), n={ev['n']}" if ev else "—"
        lines.append(f"| {arm} | {r['tokens_per_s']:.1f} | {speed:.2f} | {med or math.nan:.1f} | {med_speed:.2f} | "
                     f"{r['peak_rss_mib']:.0f} | {mem:.2f} | {r['final_loss']:.4f} | {acc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
