"""Will this run fit on that GPU, how fast will it go, and which micro-batch should it use?

    plan = make_plan(PlanInput(arch=load_arch("r1-distill-qwen-7b"), method="qlora"), get_gpu("rtx4060-8gb"))
    print(format_plan_table(plan))

Memory comes from trainers.compute.plan_memory (see its docstring for the model and its calibration).
Step time is a roofline estimate, not a measurement:
  * matmul work = trainers.compute.flops.train_flops_per_token (recompute included) × tokens, run at the
    card's dense tensor rate for the training precision × MFU_ASSUMED (0.40: what well-tuned
    single-GPU LoRA runs reach; small micro-batches and consumer cards often do less);
  * QLoRA dequantisation is memory-bound: each NF4 weight is read and a 16-bit copy written and
    read again, in the forward, the backward and the recompute;
  * the optimizer step reads and writes params, grads and states once per step;
  * a teacher adds its forward (and its own dequantisation when NF4).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from trainers.compute.flops import forward_flops_per_token, train_flops_per_token
from trainers.compute.hardware import DEFAULT_KRW_PER_USD, GpuSpec, catalogue_precision
from trainers.errors import UserError
from trainers.compute.plan_memory import (DTYPE_BYTES, GIB, OPTIMIZER_STATE_BYTES, MemoryBreakdown, PlanInput,
                                  estimate_memory, linear_params, lora_params, nf4_bytes_per_param)

__all__ = ["PlanInput", "Plan", "AutoFit", "make_plan", "auto_fit", "format_plan_table", "step_seconds"]

MFU_ASSUMED = 0.40
BANDWIDTH_EFFICIENCY = 0.70
MIN_AUTO_SEQ = 256
AUTO_LOSS_CHUNK = 256   # tokens: chunk logits ≈ 0.3 GiB at a 152k vocabulary
# Table names for the memory phases: "fwd+bwd" items live through the student's loss and backward.
PHASE_NAMES = {"static": "always", "student": "fwd+bwd"}


@dataclass(frozen=True)
class Plan:
    inp: PlanInput
    gpu: GpuSpec
    memory: MemoryBreakdown
    micro_step_s: float
    step_s: float

    @property
    def peak_gib(self) -> float:
        return self.memory.device_total_gib(on_cuda=self.gpu.id != "cpu")

    @property
    def fits(self) -> bool:
        return self.peak_gib <= self.gpu.vram_gib

    @property
    def tokens_per_s(self) -> float:
        inp = self.inp
        return inp.tokens * inp.grad_accum * inp.world_size / self.step_s

    def cost_krw_per_million_tokens(self, krw_per_usd: float = DEFAULT_KRW_PER_USD) -> float:
        """Price of the GPUs for the time a million trained tokens take."""
        hours = 1e6 / self.tokens_per_s / 3600
        return hours * self.inp.world_size * self.gpu.price_krw_hour(krw_per_usd)


def _precision(inp: PlanInput, gpu: GpuSpec) -> str:
    """The rate to plan with: the configured compute dtype where the card runs it, else its own."""
    if gpu.id == "cpu":
        return "fp32"
    if inp.compute_dtype == "bf16" and not gpu.bf16:
        return catalogue_precision(gpu)
    return inp.compute_dtype


def step_seconds(inp: PlanInput, gpu: GpuSpec, mfu: float = MFU_ASSUMED) -> tuple[float, float]:
    """(seconds per micro-batch, seconds per optimizer step) on one device."""
    a = inp.arch
    rate = gpu.peak_tflops(_precision(inp, gpu)) * 1e12 * mfu
    bandwidth = gpu.bandwidth_gbs * 1e9 * BANDWIDTH_EFFICIENCY
    targets = None if inp.lora_targets == "all-linear" else inp.targets()
    flops = train_flops_per_token(a, inp.seq_len, inp.method, inp.lora_r if inp.method != "full" else None,
                                  targets, inp.grad_checkpointing).total
    micro = flops * inp.tokens / rate
    d = DTYPE_BYTES[inp.compute_dtype]
    if inp.method == "qlora":
        passes = 3 if inp.grad_checkpointing else 2
        micro += passes * linear_params(a) * (nf4_bytes_per_param(inp.double_quant) + 2 * d) / bandwidth
    if inp.teacher is not None:
        micro += forward_flops_per_token(inp.teacher, inp.seq_len) * inp.tokens / rate
        if inp.teacher_quant == "nf4":
            micro += linear_params(inp.teacher) * (nf4_bytes_per_param() + 2 * d) / bandwidth
    trainable = a.param_count() if inp.method == "full" else lora_params(inp)
    # read + write of fp32 param, fp32 grad and the states
    optimizer = 2 * trainable * (8 + OPTIMIZER_STATE_BYTES[inp.optimizer]) / bandwidth
    return micro, inp.grad_accum * micro + optimizer


def make_plan(inp: PlanInput, gpu: GpuSpec, mfu: float = MFU_ASSUMED) -> Plan:
    micro, step = step_seconds(inp, gpu, mfu)
    return Plan(inp=inp, gpu=gpu, memory=estimate_memory(inp), micro_step_s=micro, step_s=step)


@dataclass(frozen=True)
class AutoFit:
    plan: Plan                 # the plan with the proposed settings
    changes: list[str]         # human-readable, e.g. "micro_batch 1 -> 4, grad_accum 16 -> 4"

    @property
    def fits(self) -> bool:
        return self.plan.fits


def _divisors_desc(n: int) -> list[int]:
    return [k for k in range(n, 0, -1) if n % k == 0]


def auto_fit(inp: PlanInput, gpu: GpuSpec, global_batch: int | None = None) -> AutoFit:
    """Largest micro-batch that fits with grad_accum keeping micro × accum × world = global_batch
    (default: the configured product); if micro-batch 1 does not fit, the longest power-of-two
    sequence ≥ 256 below the configured one that does. Returns the best plan even if nothing fits.

    Before giving up a micro-batch (or sequence length), a loss chunk above AUTO_LOSS_CHUNK is
    lowered to it: the loss is the same number whatever the chunk, so a smaller chunk is the cheapest
    memory there is (with a 152k vocabulary a 2048-token chunk alone holds ~2.3 GiB).
    """
    world = inp.world_size
    global_batch = global_batch or inp.micro_batch * inp.grad_accum * world
    if global_batch % world:
        raise UserError(f"global batch {global_batch} is not divisible by {world} processes")
    per_proc = global_batch // world
    chunks = [inp.loss_chunk_size]
    if inp.loss_chunk_size is not None and inp.loss_chunk_size > AUTO_LOSS_CHUNK:
        chunks.append(AUTO_LOSS_CHUNK)

    def first_fit(seq: int, micros: list[int]) -> Plan | None:
        for micro in micros:
            for chunk in chunks:
                trial = dataclasses.replace(inp, seq_len=seq, micro_batch=micro, loss_chunk_size=chunk,
                                            grad_accum=per_proc // micro)
                plan = make_plan(trial, gpu)
                if plan.fits:
                    return plan
        return None

    chosen = first_fit(inp.seq_len, _divisors_desc(per_proc))
    shorter = [2 ** k for k in range(30, 7, -1) if MIN_AUTO_SEQ <= 2 ** k < inp.seq_len]
    for seq in shorter:
        if chosen is not None:
            break
        chosen = first_fit(seq, [1])
    if chosen is None:   # report the smallest setting, which still does not fit
        chosen = make_plan(dataclasses.replace(inp, seq_len=min(inp.seq_len, MIN_AUTO_SEQ), micro_batch=1,
                                               grad_accum=per_proc, loss_chunk_size=chunks[-1]), gpu)
    new = chosen.inp
    knobs = ("micro_batch", "grad_accum", "seq_len", "loss_chunk_size")
    changes = [f"{k} {getattr(inp, k)} -> {getattr(new, k)}" for k in knobs if getattr(inp, k) != getattr(new, k)]
    return AutoFit(plan=chosen, changes=changes)


def _fmt_time(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _run_line(inp: PlanInput) -> str:
    targets = inp.lora_targets if isinstance(inp.lora_targets, str) else ",".join(inp.lora_targets)
    method = "full" if inp.method == "full" else f"{inp.method} r={inp.lora_r} ({targets})"
    loss = "full logits" if inp.loss_chunk_size is None else f"chunk {inp.loss_chunk_size}"
    return (f"run    {method}, {inp.compute_dtype}, seq {inp.seq_len} × micro {inp.micro_batch} × accum "
            f"{inp.grad_accum} × {inp.world_size} GPU, checkpointing {'on' if inp.grad_checkpointing else 'off'}, "
            f"{inp.optimizer}, loss {loss}")


def format_plan_table(plan: Plan, fit: AutoFit | None = None,
                      krw_per_usd: float = DEFAULT_KRW_PER_USD) -> str:
    """A printable breakdown: one row per component (and when it is alive), the phase totals,
    the verdict against the GPU's memory, step time, cost, and the auto-fit proposal if given."""
    inp, gpu, mem, a = plan.inp, plan.gpu, plan.memory, plan.inp.arch
    width = max(len(lbl) for lbl, _, _ in mem.items) + 2
    # Rows are in GiB; a tiny smoke model would show only zeros, so it gets MiB.
    unit, scale = ("GiB", 1.0) if plan.peak_gib >= 1 else ("MiB", 1024.0)

    def row(label: str, gib: float, when: str = "", tail: str = "") -> str:
        return f"{label:<{width}}{when:<10}{gib * scale:>8.2f}{tail}"

    params = a.param_count()
    size = f"{params / 1e9:.2f}B" if params >= 1e8 else f"{params / 1e6:.2f}M"
    lines = [f"model  {a.model_type} {size} params, {a.num_layers} layers, vocab {a.vocab_size:,}",
             _run_line(inp), f"gpu    {gpu.name} ({gpu.id}), {gpu.vram_gib:.1f} GiB", "",
             f"{'component':<{width}}{'alive':<10}{unit:>8}", "-" * (width + 18)]
    lines += [row(lbl, b / GIB, PHASE_NAMES.get(ph, ph)) for lbl, ph, b in mem.items]
    lines.append("-" * (width + 18))
    for phase, nbytes in mem.phase_bytes().items():
        lines.append(row("live during " + phase, nbytes / GIB, tail="  <- peak" if phase == mem.peak_phase else ""))
    if gpu.id != "cpu":
        lines.append(row("+ CUDA context, allocator slack", plan.peak_gib - mem.peak_allocated_gib))
    verdict = "fits" if plan.fits else "DOES NOT FIT"
    lines.append(row("total needed / available", plan.peak_gib,
                     tail=f" / {gpu.vram_gib * scale:.2f}  {verdict}"))
    lines += ["",
              f"step   ≈ {_fmt_time(plan.step_s)} per optimizer step ({_fmt_time(plan.micro_step_s)} per "
              f"micro-batch), ≈ {plan.tokens_per_s:,.0f} tokens/s (assumes MFU {MFU_ASSUMED:.0%})",
              f"cost   ≈ {plan.cost_krw_per_million_tokens(krw_per_usd):,.0f} KRW per 1M tokens at "
              f"{gpu.price_usd_hour:.2f} USD/h ({gpu.price_basis}, {gpu.price_date}, {krw_per_usd:,.0f} KRW/USD)"]
    if fit is not None:
        what = ", ".join(fit.changes) if fit.changes else "keep the configured settings"
        if not fit.fits:
            teacher = ", a 4-bit teacher or a top-k cache (kd.cache_dir)" if inp.teacher is not None else ""
            what += f"  (still does not fit: try qlora, a smaller model, adamw_8bit{teacher} or a larger GPU)"
        lines.append(f"auto   {what}")
    return "\n".join(lines)
