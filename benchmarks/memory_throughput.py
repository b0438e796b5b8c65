"""Peak GPU memory and tokens/s of kdtune's LoRA/QLoRA training step, against plain transformers+PEFT.

    python benchmarks/memory_throughput.py --auto-fit-8gb --out results.json     # GPU: every figure
    python benchmarks/memory_throughput.py --cases '7b-qlora-*' --steps 3        # a subset
    python benchmarks/memory_throughput.py --tiny                                # CPU smoke run

What runs. For R1-Distill-Qwen-1.5B and 7B (the shipped architecture configs, random weights: speed
and memory do not depend on weight values), LoRA and QLoRA, sequence 2048 and 4096 at micro-batch 1,
plus 1.5B LoRA at micro-batch 4, two training paths are measured one after the other in this process:
  kdtune    the finance recipe config for that model and method (configs/finance/*.yaml) built by
            trainers.models.model_builder.build_model (bf16 frozen base or NF4 via bnb_config, non-reentrant
            checkpointing, LoRA via add_lora), stepped as `kdtune run sft` steps: SFTLoss with the
            chunked output-head loss (--chunk, default 256) wrapped by accelerate's prepare_model
            (bf16 autocast), trainers.loop.accumulate_gradients, clipping, AdamW on the LoRA weights.
  baseline  transformers+PEFT as most users write it: from_pretrained (with BitsAndBytesConfig for
            QLoRA), prepare_model_for_kbit_training for QLoRA (upcasts the non-quantised weights to
            fp32), reentrant checkpointing (transformers 4.x's default, which most published QLoRA
            scripts ran with; transformers 5 made non-reentrant the default, so it is asked for
            explicitly here), get_peft_model with the same LoRA settings, `model(input_ids,
            labels=labels).loss` (full fp32 logits), bf16 autocast as Trainer(bf16=True) uses, the
            same AdamW and clipping.
Both paths get the same random token ids, every position trained. Each (model, method, path) is built
once and runs all of its cases; between cases the allocator is emptied and its peak counter reset.
Per case: --warmup untimed steps, then --steps timed steps between torch.cuda.synchronize() calls.
Peak memory is torch.cuda.max_memory_allocated() over warm-up and timed steps (model loading
excluded) -- the quantity trainers.compute.plan_memory predicts as `peak_allocated_gib`; the reserved peak
and the planner's device total (CUDA context and allocator slack added) are in the JSON too.

Random weights. The first run builds each architecture with AutoModelForCausalLM.from_config on the
GPU in bf16 and saves it with save_pretrained (plus a placeholder tokenizer, which build_model
loads) under --weights-dir (default: the system temp dir, about 19 GB for both models; later runs
reuse it). Both paths then load that directory through from_pretrained, so QLoRA quantises the way
it does for real checkpoints: bitsandbytes NF4 with double quantisation, embeddings, norms and head
left in bf16 -- realistic NF4 memory, which a hand-made Linear4bit swap would only approximate.

Planner. Each case's recipe config goes through recipes.plan.plan_input_from_config and
trainers.compute.planner.make_plan for this GPU (kdtune); the baseline prediction is the same input with
full logits (loss_chunk_size=None) and, for QLoRA, upcast_non_quantized=True. The error is
(predicted - measured) / measured. MFU = tokens/s x trainers.compute.flops model FLOPs per token (4N + 12LHQT +
adapters, recompute excluded) / the GPU's dense bf16 peak from trainers.compute.hardware.

--auto-fit-8gb: recipes.plan.apply_auto_fit (what `train.auto_fit: true` runs) on the 7B QLoRA
recipe for this GPU with its memory set to 8 GiB; then torch.cuda.set_per_process_memory_fraction
caps this process at 8 GiB minus the CUDA context it already holds (a real 8 GB card holds that
context inside its 8 GiB), and the kdtune path trains --steps optimizer steps of 2 micro-batches
with the fitted settings. It reports success or OOM.

--tiny: the same code on CPU with two small Qwen2 architectures standing in for 1.5B and 7B and
sequences divided by 16. There is no device allocator to read, so "peak" is the process's RSS
high-water mark (it only grows across cases) and the planner's error is not computed; tokens/s is
measured. It exists so CI exercises the script; its numbers mean nothing for a GPU.

Results print as a Markdown table followed by the issue-5 checks, and go to --out as JSON. An
existing --out file is updated case by case, so a run split over several commands ends complete.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import gc
import hashlib
import json
import platform
import resource
import sys
import tempfile
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from recipes.plan import apply_auto_fit, plan_input_from_config  # noqa: E402
from trainers.compute.flops import train_flops_per_token  # noqa: E402
from trainers.compute.hardware import CATALOGUE, detect_gpu  # noqa: E402
from trainers.compute.plan_memory import GIB  # noqa: E402
from trainers.compute.planner import make_plan  # noqa: E402
from trainers.config.loader import load_config  # noqa: E402
from trainers.errors import UserError  # noqa: E402
from trainers.loop import accumulate_gradients  # noqa: E402
from trainers.losses.sft_loss import SFTLoss  # noqa: E402
from trainers.models.arch_catalog import load_arch, load_arch_config  # noqa: E402
from trainers.models.model_builder import build_model, trainable_parameters  # noqa: E402
from trainers.models.precision import COMPUTE_DTYPE, accelerate_mixed_precision, choose_precision  # noqa: E402
from trainers.optim import make_optimizer  # noqa: E402

MODELS = {"1.5b": "r1-distill-qwen-1.5b", "7b": "r1-distill-qwen-7b"}
CONFIGS = {(m, meth): f"configs/finance/r1-distill-qwen-{m}_{meth}_{gpu}.yaml"
           for m, meth, gpu in [("1.5b", "lora", "16gb"), ("1.5b", "qlora", "8gb"),
                                ("7b", "lora", "24gb"), ("7b", "qlora", "12gb")]}
# Small Qwen2 stand-ins for --tiny: GQA like the real models, a vocabulary large enough that the
# output head still dominates the loss, and "7b" bigger than "1.5b" so the rows differ.
TINY_ARCH = {"1.5b": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                          intermediate_size=192, vocab_size=4096),
             "7b": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        intermediate_size=384, vocab_size=4096)}
TINY_SEQ_DIVISOR = 16
CATALOGUE_ONLY_KEYS = {"hub_id", "also_hub_ids", "aliases"}   # ours, not transformers config fields
ACCUM_AUTO_FIT = 2          # micro-batches per optimizer step in the auto-fit run (exercises accumulation)
TARGETS = [  # issue 5: (case, kdtune peak_allocated limit in GiB)
    ("7b-qlora-seq2048-mb1", 6.0), ("1.5b-qlora-seq2048-mb1", 2.0), ("7b-qlora-seq4096-mb1", 7.0)]
SPEEDUP_CASE, SPEEDUP_MIN, PLANNER_TOLERANCE = "1.5b-lora-seq2048-mb4", 1.3, 0.15


@dataclass(frozen=True)
class Case:
    model: str          # key of MODELS / TINY_ARCH
    method: str         # lora | qlora
    seq: int
    micro_batch: int
    tiny: bool = False

    @property
    def id(self) -> str:
        return f"{'tiny-' if self.tiny else ''}{self.model}-{self.method}-seq{self.seq}-mb{self.micro_batch}"


def all_cases(tiny: bool) -> list[Case]:
    div = TINY_SEQ_DIVISOR if tiny else 1
    cases = [Case(m, meth, s // div, 1, tiny) for m in MODELS for meth in ("lora", "qlora") for s in (2048, 4096)]
    return cases + [Case("1.5b", "lora", 2048 // div, 4, tiny)]   # the throughput case


@dataclass
class Env:
    tiny: bool
    device: torch.device
    precision: str
    compute_dtype: torch.dtype
    gpu: object          # trainers.compute.hardware.GpuSpec
    accelerator: object

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """What Trainer(bf16=True) does for the baseline; kdtune gets it from accelerate."""
        return torch.autocast("cuda", dtype=self.compute_dtype) if self.cuda and self.precision != "fp32" else nullcontext()

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()


def open_env(tiny: bool) -> Env:
    from accelerate import Accelerator
    cuda = torch.cuda.is_available() and not tiny
    # An explicit index: a bare "cuda" device has index None, which is no device_map key.
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    precision = choose_precision("auto", device)
    accelerator = Accelerator(mixed_precision=accelerate_mixed_precision(precision), cpu=not cuda)
    gpu = detect_gpu() if cuda else CATALOGUE["cpu"]
    return Env(tiny, device, precision, COMPUTE_DTYPE[precision], gpu, accelerator)


# --- random-weight checkpoints -------------------------------------------------------------------
def hf_config(model_key: str, tiny: bool):
    from transformers import AutoConfig
    if tiny:
        fields = {**TINY_ARCH[model_key], "model_type": "qwen2", "tie_word_embeddings": False}
    else:
        fields = {k: v for k, v in load_arch_config(MODELS[model_key]).items()
                  if k not in CATALOGUE_ONLY_KEYS and v is not None}
    model_type = fields.pop("model_type")
    return AutoConfig.for_model(model_type, **fields)


def placeholder_tokenizer():
    """build_model loads a tokenizer; the benchmark feeds random ids, so any tokenizer will do."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel({"<unk>": 0, "<pad>": 1, "</s>": 2}, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")


def ensure_weights(root: Path, model_key: str, env: Env) -> Path:
    """A saved random-weight model for `model_key`, built on first use and reused afterwards."""
    from transformers import AutoModelForCausalLM
    config = hf_config(model_key, env.tiny)
    digest = hashlib.sha256(config.to_json_string().encode()).hexdigest()[:10]
    out = root / f"{'tiny-' if env.tiny else ''}{model_key}-{digest}"
    if (out / "bench_complete").is_file():
        return out
    print(f"building random weights for {model_key} in {out} ...", flush=True)
    torch.manual_seed(0)
    # Initialised on the device (seconds on a GPU, minutes for 7B on a CPU), saved in the dtype
    # real checkpoints ship in (bf16; fp32 for the CPU smoke run, which trains in fp32).
    dtype = torch.bfloat16 if env.cuda else torch.float32
    with torch.device(env.device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    placeholder_tokenizer().save_pretrained(tmp)
    del model
    free_memory(env)
    (tmp / "bench_complete").write_text("ok")
    tmp.rename(out)
    return out


# --- the two training paths ----------------------------------------------------------------------
def recipe_config(case: Case, weights: Path, chunk: int):
    """The shipped recipe for this model and method, pointed at the random weights."""
    return load_config(ROOT / CONFIGS[(case.model, case.method)],
                       [f"model.path={weights}", f"data.max_seq_len={case.seq}",
                        f"train.micro_batch_size={case.micro_batch}", f"train.loss_chunk_size={chunk}"])


class KdtunePath:
    name = "kdtune"

    def __init__(self, cfg, env: Env):
        self.env, self.cfg = env, cfg
        built = build_model(cfg.model, cfg.lora, cfg.quant, env.compute_dtype, env.device,
                            cfg.train.gradient_checkpointing)
        self.model = built.model
        # from_pretrained returns eval mode (no checkpointing, no dropout): train mode, as the loop sets it
        self.model.train()
        self.params = [p for _, p in trainable_parameters(self.model)]

    def stepper(self, chunk: int):
        acc, cfg = self.env.accelerator, self.cfg
        # prepare_model wraps the loss module's forward in autocast, as the recipe's loop does.
        loss_module = acc.prepare_model(SFTLoss(self.model, chunk), device_placement=False)
        optimizer = acc.prepare_optimizer(make_optimizer(self.params, cfg.train.optimizer, cfg.train.lr,
                                                         cfg.train.weight_decay))

        def step(batches):
            accumulate_gradients(loss_module, batches, acc)
            if cfg.train.max_grad_norm is not None:
                acc.clip_grad_norm_(self.params, cfg.train.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    def after_case(self):
        # accelerate keeps references to what it prepared: drop them, or each case's optimizer
        # states would still count in the next case's peak. Gradients left by an OOM go too.
        self.env.accelerator.free_memory()
        for p in self.params:
            p.grad = None

    def close(self):
        self.after_case()
        del self.model, self.params


class BaselinePath:
    name = "baseline"

    def __init__(self, cfg, env: Env):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig
        self.env, self.cfg = env, cfg
        reentrant = {"use_reentrant": True}
        kwargs = {"dtype": env.compute_dtype}
        if cfg.quant.load_in_4bit:
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type=cfg.quant.quant_type,
                bnb_4bit_use_double_quant=cfg.quant.double_quant, bnb_4bit_compute_dtype=env.compute_dtype)
            kwargs["device_map"] = {"": env.device.index if env.cuda else "cpu"}
        model = AutoModelForCausalLM.from_pretrained(cfg.model.path, **kwargs)
        model.config.use_cache = False
        if cfg.quant.load_in_4bit:
            model = prepare_model_for_kbit_training(model, gradient_checkpointing_kwargs=reentrant)
        else:
            model.to(env.device)
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=reentrant)
            model.enable_input_require_grads()   # reentrant checkpointing needs a grad-requiring input
        lora = cfg.lora
        self.model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                      target_modules=lora.target_modules, task_type="CAUSAL_LM"))
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]

    def stepper(self, chunk: int):
        opt = torch.optim.AdamW(self.params, lr=self.cfg.train.lr, weight_decay=self.cfg.train.weight_decay)
        max_norm = self.cfg.train.max_grad_norm

        def step(batches):
            for b in batches:
                with self.env.autocast():
                    ids = b["input_ids"].to(self.env.device)
                    loss = self.model(input_ids=ids, labels=b["labels"].to(self.env.device)).loss
                (loss / len(batches)).backward()
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.params, max_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    def after_case(self):
        for p in self.params:   # the optimizer went with the step closure; an OOM may leave gradients
            p.grad = None

    def close(self):
        del self.model, self.params


# --- measuring -----------------------------------------------------------------------------------
def free_memory(env: Env):
    gc.collect()
    if env.cuda:
        torch.cuda.empty_cache()


def random_batch(case: Case, vocab: int, seed: int = 0) -> dict:
    """Every position is a trained target (labels = inputs; the losses shift them)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (case.micro_batch, case.seq), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone(),
            "n_targets": torch.tensor(case.micro_batch * (case.seq - 1))}


def measure(step, batches: list[dict], env: Env, warmup: int, steps: int) -> dict:
    tokens = sum(b["input_ids"].numel() for b in batches)
    free_memory(env)
    if env.cuda:
        torch.cuda.reset_peak_memory_stats(env.device)
    try:
        for _ in range(warmup):
            step(batches)
        env.sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step(batches)
        env.sync()
        seconds = time.perf_counter() - t0
    except RuntimeError as e:
        if not is_oom(e):
            raise
        return {"oom": True, "error": str(e).splitlines()[0], **peak_memory(env)}
    return {"oom": False, "seconds_per_step": seconds / steps, "tokens_per_s": tokens * steps / seconds,
            **peak_memory(env)}


def is_oom(e: BaseException) -> bool:
    """torch raises OutOfMemoryError; a CUDA kernel (bitsandbytes') may raise a plain RuntimeError."""
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def peak_memory(env: Env) -> dict:
    if env.cuda:
        return {"peak_allocated_gib": torch.cuda.max_memory_allocated(env.device) / GIB,
                "peak_reserved_gib": torch.cuda.max_memory_reserved(env.device) / GIB}
    # Linux reports ru_maxrss in KiB; the high-water mark of the whole process so far.
    return {"rss_peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def predictions(cfg, env: Env, arch) -> dict:
    inp = plan_input_from_config(cfg, env.gpu, arch=arch)
    base = dataclasses.replace(inp, loss_chunk_size=None, upcast_non_quantized=inp.method == "qlora")
    out = {}
    for name, i in (("kdtune", inp), ("baseline", base)):
        plan = make_plan(i, env.gpu)
        out[name] = {"peak_allocated_gib": plan.memory.peak_allocated_gib, "device_total_gib": plan.peak_gib,
                     "tokens_per_s": plan.tokens_per_s}
    return out


def mfu(case: Case, cfg, arch, env: Env, tokens_per_s: float) -> float:
    flops = train_flops_per_token(arch, case.seq, case.method, cfg.lora.r, None,
                                  cfg.train.gradient_checkpointing).model_flops_for_mfu
    return tokens_per_s * flops / (env.gpu.peak_tflops(env.precision) * 1e12)


def run_group(model_key: str, method: str, cases: list[Case], weights: Path, env: Env, args) -> dict:
    """Both paths over the cases of one (model, method): each model is built once per path."""
    arch = load_arch(str(weights))
    results = {c.id: {"case": dataclasses.asdict(c), "id": c.id} for c in cases}
    for c in cases:
        results[c.id]["predicted"] = predictions(recipe_config(c, weights, args.chunk), env, arch)
    for path_cls in (KdtunePath, BaselinePath):
        print(f"{model_key} {method}: building the {path_cls.name} model ...", flush=True)
        path = path_cls(recipe_config(cases[0], weights, args.chunk), env)
        for c in cases:
            cfg = recipe_config(c, weights, args.chunk)
            r = measure(path.stepper(args.chunk), [random_batch(c, arch.vocab_size)], env, args.warmup, args.steps)
            if not r["oom"]:
                r["mfu"] = mfu(c, cfg, arch, env, r["tokens_per_s"])
            results[c.id][path.name] = r
            path.after_case()
            print(f"  {c.id} {path.name}: {json.dumps(r)}", flush=True)
        path.close()
        del path
        free_memory(env)
    return results


def run_auto_fit(root: Path, env: Env, args) -> dict:
    """The 7B QLoRA recipe, auto-fitted to 8 GiB, trained under an 8 GiB cap (see module docstring)."""
    case = Case("7b", "qlora", 2048 // (TINY_SEQ_DIVISOR if env.tiny else 1), 1, env.tiny)
    weights = ensure_weights(root, "7b", env)
    arch = load_arch(str(weights))
    cfg = load_config(ROOT / CONFIGS[("7b", "qlora")], [f"model.path={weights}", f"data.max_seq_len={case.seq}"])
    budget = 8.0
    if env.tiny:
        # No cap can be enforced on a CPU. A budget that holds micro-batch 4 but not 8 makes auto_fit
        # change the configured micro-batch 1 x accumulation 16, which is what this run exercises.
        inp = dataclasses.replace(plan_input_from_config(cfg, env.gpu, arch=arch), micro_batch=4)
        budget = 1.01 * make_plan(inp, env.gpu).peak_gib
    gpu = dataclasses.replace(env.gpu, vram_gib=budget, name=f"{env.gpu.name} limited to {budget:.3g} GiB")
    out = {"budget_gib": budget, "cap_enforced": env.cuda, "config": CONFIGS[("7b", "qlora")]}
    try:
        fitted = apply_auto_fit(cfg, gpu, arch=arch, log=lambda *a, **k: None)
    except UserError as e:
        return {**out, "status": "planner: does not fit", "error": str(e)}
    t = fitted.train
    out.update(seq=fitted.data.max_seq_len, micro_batch=t.micro_batch_size, grad_accum=t.grad_accum,
               loss_chunk_size=t.loss_chunk_size,
               predicted_device_total_gib=make_plan(plan_input_from_config(fitted, gpu, arch=arch), gpu).peak_gib)
    free_memory(env)
    if env.cuda:
        total = torch.cuda.get_device_properties(env.device).total_memory
        free, _ = torch.cuda.mem_get_info(env.device)
        context = total - free - torch.cuda.memory_reserved(env.device)   # driver context, not torch's
        out["cuda_context_gib"] = context / GIB
        torch.cuda.set_per_process_memory_fraction((budget * GIB - context) / total, env.device)
    path = None
    try:
        path = KdtunePath(fitted, env)
        fit_case = Case("7b", "qlora", fitted.data.max_seq_len, t.micro_batch_size, env.tiny)
        batches = [random_batch(fit_case, arch.vocab_size, seed) for seed in range(ACCUM_AUTO_FIT)]
        r = measure(path.stepper(t.loss_chunk_size), batches, env, 0, args.steps)
        out.update(r, status="OOM" if r["oom"] else "trained without OOM", steps=args.steps)
    except RuntimeError as e:   # while loading the model
        if not is_oom(e):
            raise
        out.update(status="OOM while building the model", error=str(e).splitlines()[0])
    finally:
        if path is not None:
            path.close()
        del path
        free_memory(env)
        if env.cuda:
            torch.cuda.set_per_process_memory_fraction(1.0, env.device)
    return out


# --- reporting -----------------------------------------------------------------------------------
def _pair(a, b, fmt) -> str:
    return f"{fmt(a)} / {fmt(b)}"


def table(results: dict[str, dict], order: list[str], tiny: bool) -> str:
    """Markdown table, one row per case. GiB on a GPU; the tiny CPU run shows RSS and MiB."""
    unit, scale = ("MiB", 1024) if tiny else ("GiB", 1)
    peak_head = "RSS high-water GiB kdtune / baseline" if tiny else "peak GiB kdtune / baseline"
    lines = [f"| case | {peak_head} | tokens/s kdtune / baseline | speed-up | planner {unit} kdtune (error) / "
             f"baseline (error) | MFU kdtune / baseline |", "|---|---|---|---|---|---|"]
    for cid in [c for c in order if c in results]:
        r = results[cid]
        k, b = r.get("kdtune", {}), r.get("baseline", {})

        def peak(x):
            if not x:
                return "—"
            v = x.get("rss_peak_gib" if tiny else "peak_allocated_gib")
            return f"{v:.2f}" + (" OOM" if x.get("oom") else "")

        def tps(x):
            return "OOM" if x.get("oom") else f"{x['tokens_per_s']:,.0f}" if x else "—"

        def pred(name):
            p = r["predicted"][name]["peak_allocated_gib"]
            x = r.get(name, {})
            err = ("OOM" if x.get("oom") else f"{error(p, x['peak_allocated_gib']):+.0%}"
                   if x.get("peak_allocated_gib") else "n/a")
            return f"{p * scale:.2f} ({err})"

        def util(x):
            return f"{x['mfu']:.1%}" if x.get("mfu") is not None else "—"

        speed = (f"{k['tokens_per_s'] / b['tokens_per_s']:.2f}×" if k.get("tokens_per_s") and b.get("tokens_per_s")
                 else "—")
        lines.append(f"| {cid} | {peak(k)} / {peak(b)} | {tps(k)} / {tps(b)} | {speed} | "
                     f"{pred('kdtune')} / {pred('baseline')} | {util(k)} / {util(b)} |")
    return "\n".join(lines)


def error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured


def checks(results: dict[str, dict], auto_fit: dict | None) -> list[dict]:
    """Issue 5's acceptance figures; 'not run' where this run lacks the case."""
    out = []

    def add(what, value, ok):
        out.append({"check": what, "value": value, "status": "not run" if ok is None else "pass" if ok else "FAIL"})

    for cid, limit in TARGETS:
        k = results.get(cid, {}).get("kdtune", {})
        v = k.get("peak_allocated_gib")
        add(f"{cid} kdtune peak ≤ {limit} GiB", None if v is None else round(v, 2),
            None if v is None else (not k["oom"] and v <= limit))
    k, b = results.get(SPEEDUP_CASE, {}).get("kdtune", {}), results.get(SPEEDUP_CASE, {}).get("baseline", {})
    s = k["tokens_per_s"] / b["tokens_per_s"] if k.get("tokens_per_s") and b.get("tokens_per_s") else None
    add(f"{SPEEDUP_CASE} speed-up ≥ {SPEEDUP_MIN}×", None if s is None else round(s, 2),
        None if s is None else s >= SPEEDUP_MIN)
    for name in ("kdtune", "baseline"):
        errs = {cid: error(r["predicted"][name]["peak_allocated_gib"], r[name]["peak_allocated_gib"])
                for cid, r in results.items() if r.get(name, {}).get("peak_allocated_gib") and not r[name]["oom"]}
        worst = max(errs.items(), key=lambda kv: abs(kv[1])) if errs else None
        add(f"planner within ±{PLANNER_TOLERANCE:.0%} of measured peak, every {name} case",
            None if worst is None else f"worst {worst[0]} {worst[1]:+.1%}",
            None if worst is None else abs(worst[1]) <= PLANNER_TOLERANCE)
    enforced = auto_fit is not None and auto_fit.get("cap_enforced")   # a CPU run cannot cap memory
    add("auto_fit on a simulated 8 GB card trains without OOM", auto_fit.get("status") if enforced else None,
        auto_fit.get("status") == "trained without OOM" if enforced else None)
    return out


def meta(env: Env, args) -> dict:
    import bitsandbytes
    import peft
    import transformers
    return {"tiny": env.tiny, "device": torch.cuda.get_device_name(env.device) if env.cuda else platform.processor() or "cpu",
            "gpu_spec": env.gpu.id, "precision": env.precision, "steps": args.steps, "warmup": args.warmup,
            "loss_chunk": args.chunk, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "bitsandbytes": bitsandbytes.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="*", help="comma-separated glob patterns over case ids, e.g. "
                   "'7b-qlora-*,*-mb4'; 'none' runs no case (only --auto-fit-8gb). Ids: "
                   + ", ".join(c.id for c in all_cases(False)))
    p.add_argument("--steps", type=int, default=5, help="timed optimizer steps per case")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing (peak still counted)")
    p.add_argument("--chunk", type=int, default=256, help="kdtune's output-head loss chunk, tokens")
    p.add_argument("--auto-fit-8gb", action="store_true", help="also run the 7B QLoRA auto-fit under an 8 GiB cap")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run with tiny stand-in architectures")
    p.add_argument("--weights-dir", type=Path, default=Path(tempfile.gettempdir()) / "kdtune-bench-weights",
                   help="where the random-weight checkpoints are saved and reused")
    p.add_argument("--out", type=Path, help="write (update) results as JSON")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.chunk < 1:
        p.error("need --steps >= 1, --warmup >= 0, --chunk >= 1")
    return args


def select(cases: list[Case], patterns: str) -> list[Case]:
    if patterns.strip() == "none":
        return []
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [c for c in cases if any(fnmatch.fnmatch(c.id, p) for p in pats)]
    if not chosen:
        raise SystemExit(f"--cases {patterns!r} matches none of: {', '.join(c.id for c in cases)}")
    return chosen


def main(argv=None) -> int:
    args = parse_args(argv)
    # transformers 5 renames gradient checkpointing and warns on every call; the table is the output.
    warnings.filterwarnings("ignore", category=FutureWarning)
    env = open_env(args.tiny)
    if not env.cuda and not args.tiny:
        raise SystemExit("no CUDA device: this benchmark measures GPU memory; use --tiny for the CPU smoke run")
    everything = all_cases(args.tiny)
    cases = select(everything, args.cases)
    args.weights_dir.mkdir(parents=True, exist_ok=True)
    saved = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    if saved.get("meta", {}).get("tiny") != args.tiny:
        saved = {}   # never mix tiny and GPU figures in one file
    results: dict[str, dict] = saved.get("cases", {})
    groups: dict[tuple[str, str], list[Case]] = {}
    for c in cases:
        groups.setdefault((c.model, c.method), []).append(c)
    for (model_key, method), group in groups.items():
        weights = ensure_weights(args.weights_dir, model_key, env)
        results.update(run_group(model_key, method, group, weights, env, args))
    auto_fit = run_auto_fit(args.weights_dir, env, args) if args.auto_fit_8gb else saved.get("auto_fit_8gb")
    report = {"meta": meta(env, args), "cases": results, "auto_fit_8gb": auto_fit,
              "checks": checks(results, auto_fit)}
    print()
    print(table(results, [c.id for c in everything], args.tiny))
    if auto_fit is not None:
        cap = "" if auto_fit.get("cap_enforced") else ", planner only: no cap on a CPU"
        print(f"\nauto-fit ({auto_fit.get('budget_gib', 0):.3g} GiB{cap}): {auto_fit.get('status')}, seq "
              f"{auto_fit.get('seq')}, micro-batch {auto_fit.get('micro_batch')}, chunk {auto_fit.get('loss_chunk_size')}")
    print()
    for c in report["checks"]:
        print(f"[{c['status']}] {c['check']}: {c['value']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
