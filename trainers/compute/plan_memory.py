"""Peak GPU memory of one training micro-step, from the architecture and the training settings.

The model follows what PyTorch actually keeps alive, in three phases of a micro-step:
  teacher  the teacher's forward (no grad), before the student runs
  loss     end of the student forward: checkpointed layer inputs + the loss's working buffers
  backward one decoder layer recomputed with its gradients, all layer inputs still held
Everything static (weights, adapters, optimizer states, teacher weights, cached targets) is alive
in every phase; the peak is the largest phase. Sizes per token and layer, d = compute-dtype bytes:
  * RMSNorm (transformers' version) upcasts its input to fp32 and autograd keeps that copy: 4H
    per norm, two norms per layer.
  * SDPA (flash / memory-efficient) keeps q, k, v after rotary, its output and an fp32 logsumexp;
    never the T×T scores. GQA runs without repeating k/v (torch ≥ 2.5, no padding mask).
  * SwiGLU keeps gate, silu(gate) and up outputs (3·d·I).
  * A linear keeps its input only where its weight trains (a LoRA adapter's A matrix or full
    fine-tuning); bitsandbytes' 4-bit matmul keeps no input for a frozen weight.
  * LoRA dropout > 0 keeps a dropped copy plus a bool mask of the input, per adapted module.
  * QLoRA dequantises one weight at a time to d bytes, a transient of the largest linear.
Weights: NF4 stores 4 bits per parameter plus one absmax per 64; double quantisation stores those
absmaxes in 8 bits with an fp32 constant per 256 of them. Embeddings, norms and the output head stay
in the compute dtype (bitsandbytes leaves lm_head unquantised) unless `upcast_non_quantized`
(peft's prepare_model_for_kbit_training) makes them fp32. Full fine-tuning is mixed precision:
fp32 master weights and gradients, AdamW states in fp32 (8-bit: 2 B), plus autocast's cached
16-bit copies of the matmul weights during the forward.
Full-logit loss (loss_chunk_size=None, what transformers does): 12 B per logit at its peak (fp32
log-softmax output, its gradient and the input gradient; 16-bit logits before). With this figure the
model reproduces issue 5's H100 measurements: R1-Distill-Qwen-1.5B / 7B QLoRA at 2048 tokens,
5.4 / 9.6 GiB "written carefully", against 2.3 / 6.8 GiB with fused kernels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trainers.errors import UserError
from trainers.models.arch_spec import GEMMA3_TYPES, ArchSpec
from trainers.models.trainable import config_block_targets
# the matmul-parameter counts are trainers.compute.flops' (one definition); linear_params: the block linears
from trainers.compute.flops import block_matmul_params as linear_params, matmul_params  # noqa: F401 (re-exported)

GIB = 2 ** 30
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
OPTIMIZER_STATE_BYTES = {"adamw": 8, "adamw_8bit": 2, "paged_adamw_8bit": 2}  # per trainable param
NF4_BLOCK, DQ_BLOCK = 64, 256
FULL_LOGIT_BYTES = 12          # see module docstring
KD_CHUNK_FP32_BUFFERS = 5      # student/teacher log-softmax, probabilities, divergence terms
TOPK_ROW_BYTES = 8             # int32 id + fp32 log-probability per cached top-k entry
CUDA_CONTEXT_GIB = 0.5         # driver context + kernels, not seen by torch's allocator
ALLOCATOR_SLACK = 0.05         # reserved-but-unused share of the caching allocator


def nf4_bytes_per_param(double_quant: bool = True) -> float:
    if double_quant:
        return 0.5 + 1 / NF4_BLOCK + 4 / (NF4_BLOCK * DQ_BLOCK)
    return 0.5 + 4 / NF4_BLOCK


@dataclass(frozen=True)
class PlanInput:
    arch: ArchSpec
    method: Literal["full", "lora", "qlora"] = "qlora"
    seq_len: int = 2048
    micro_batch: int = 1
    grad_accum: int = 1
    lora_r: int = 16
    lora_targets: str | tuple[str, ...] = "all-linear"
    compute_dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    grad_checkpointing: bool = True
    optimizer: Literal["adamw", "adamw_8bit", "paged_adamw_8bit"] = "adamw"
    loss_chunk_size: int | None = 2048    # None: full [tokens, vocab] logits (transformers' loss)
    teacher: ArchSpec | None = None
    teacher_quant: Literal["none", "nf4"] = "none"
    kd_cache_topk: int | None = None
    kd_chunk_size: int | None = None      # KD loss chunk (kd.chunk_size); None: the CE loss chunk
    lora_dropout: float = 0.0
    double_quant: bool = True
    upcast_non_quantized: bool = False
    world_size: int = 1

    def __post_init__(self):
        checks = [(self.method in ("full", "lora", "qlora"), f"method {self.method!r}"),
                  (self.compute_dtype in DTYPE_BYTES, f"compute_dtype {self.compute_dtype!r}"),
                  (self.optimizer in OPTIMIZER_STATE_BYTES, f"optimizer {self.optimizer!r}"),
                  (self.teacher_quant in ("none", "nf4"), f"teacher_quant {self.teacher_quant!r}"),
                  (min(self.seq_len, self.micro_batch, self.grad_accum, self.world_size) >= 1,
                   "seq_len, micro_batch, grad_accum and world_size must be >= 1"),
                  (self.method == "full" or self.lora_r >= 1, "lora_r must be >= 1"),
                  (self.loss_chunk_size is None or self.loss_chunk_size >= 1, "loss_chunk_size"),
                  (not (self.teacher and self.kd_cache_topk), "give a teacher or a top-k cache, not both")]
        bad = [what for ok, what in checks if not ok]
        if bad:
            raise UserError("invalid plan input: " + "; ".join(bad))

    @property
    def tokens(self) -> int:
        return self.seq_len * self.micro_batch

    def targets(self) -> list[str]:
        """Adapted linear names in ArchSpec.linear_shapes() terms (all of them for full FT)."""
        if self.method == "full":
            return list(self.arch.linear_shapes())
        return list(config_block_targets(self.arch, self.lora_targets))


PHASES = ("teacher", "loss", "backward")
STUDENT = "student"   # alive in the loss and backward phases (the student's kept activations)


@dataclass
class MemoryBreakdown:
    """Bytes by component; `phase` says when each is alive: "static" (always), "student" (loss and
    backward), or one of PHASES."""
    items: list[tuple[str, str, float]] = field(default_factory=list)   # (label, phase, bytes)

    def add(self, label: str, phase: str, nbytes: float) -> None:
        if nbytes > 0:
            self.items.append((label, phase, float(nbytes)))

    def phase_bytes(self) -> dict[str, float]:
        """Live bytes in each phase that has work of its own."""
        def alive(phase: str, item_phase: str) -> bool:
            return item_phase in ("static", phase) or (item_phase == STUDENT and phase != "teacher")
        present = {p for _, p, _ in self.items} | {"loss", "backward"}
        return {ph: sum(b for _, p, b in self.items if alive(ph, p)) for ph in PHASES if ph in present}

    @property
    def peak_phase(self) -> str:
        totals = self.phase_bytes()
        return max(totals, key=totals.get)

    @property
    def peak_allocated_gib(self) -> float:
        """What torch.cuda.max_memory_allocated() would report."""
        return max(self.phase_bytes().values()) / GIB

    def device_total_gib(self, on_cuda: bool = True) -> float:
        """Device memory actually needed: allocator slack and the CUDA context on top."""
        if not on_cuda:
            return self.peak_allocated_gib
        return self.peak_allocated_gib * (1 + ALLOCATOR_SLACK) + CUDA_CONTEXT_GIB


def lora_params(inp: PlanInput) -> int:
    if inp.method == "full":
        return 0
    shapes, arch = inp.arch.linear_shapes(), inp.arch
    # block linears only: the head and embeddings never take an adapter (trainers/models/trainable.py)
    return inp.lora_r * arch.num_layers * sum(sum(shapes[t]) for t in inp.targets())


def weight_bytes(arch: ArchSpec, quantised: bool, d: int, double_quant: bool = True,
                 upcast_rest: bool = False) -> tuple[float, float]:
    """(bytes of NF4 linear layers, bytes of everything kept in a float dtype)."""
    if not quantised:
        return 0.0, arch.param_count() * d
    nf4 = linear_params(arch) * nf4_bytes_per_param(double_quant)
    rest = (arch.param_count() - linear_params(arch)) * (4 if upcast_rest else d)
    return nf4, rest


def layer_activation_bytes(inp: PlanInput) -> tuple[float, float]:
    """(bytes autograd keeps for one decoder layer, extra transient bytes in its backward), per token."""
    a, d = inp.arch, DTYPE_BYTES[inp.compute_dtype]
    h, q, kv, i = a.hidden_size, a.q_dim, a.kv_dim, a.intermediate_size
    trains = set(inp.targets())
    full = inp.method == "full"
    gemma = a.model_type in GEMMA3_TYPES
    norms = 4 if gemma else 2          # Gemma 3 norms before and after both attention and MLP
    kept = norms * 4 * h + (norms * d * h if full else 0)       # RMSNorms, fp32 inputs (+ weight grads)
    kept += 4 * (q + kv) if gemma else 0                        # Gemma 3's per-head q/k RMSNorms
    kept += d * h if trains & {"q_proj", "k_proj", "v_proj"} else 0
    kept += d * (q + 2 * kv) + d * q + 4 * a.num_heads          # SDPA: q, k, v, out, logsumexp
    kept += d * q if "o_proj" in trains else 0
    kept += d * h if trains & {"gate_proj", "up_proj"} else 0
    kept += 3 * d * i                                           # SwiGLU
    kept += d * i if "down_proj" in trains else 0
    if not full:
        shapes = a.linear_shapes()
        layer_targets = [t for t in trains if t in shapes]
        kept += d * inp.lora_r * len(layer_targets)             # LoRA A outputs
        if inp.lora_dropout > 0:
            kept += sum((d + 1) * shapes[t][0] for t in layer_targets)
    transient = 2 * d * i + 2 * 4 * h                           # MLP and norm gradients in flight
    return kept, transient


def estimate_memory(inp: PlanInput) -> MemoryBreakdown:
    a, d, n = inp.arch, DTYPE_BYTES[inp.compute_dtype], inp.tokens
    m = MemoryBreakdown()
    dt = inp.compute_dtype
    # --- static: weights, trainable state, teacher, cache -------------------------------------
    if inp.method == "full":
        params = a.param_count()
        m.add("weights: fp32 master copy", "static", params * 4)
        m.add("gradients (fp32)", "static", params * 4)
        m.add(f"optimizer states ({inp.optimizer})", "static",
              params * OPTIMIZER_STATE_BYTES[inp.optimizer])
        if d < 4:   # autocast caches 16-bit copies of the matmul weights until the forward ends
            m.add(f"autocast {dt} weight copies", "loss",
                  matmul_params(a) * d)
    else:
        nf4, rest = weight_bytes(a, inp.method == "qlora", d, inp.double_quant, inp.upcast_non_quantized)
        m.add("weights: NF4 linear layers (+ absmax)", "static", nf4)
        rest_dtype = "fp32" if inp.upcast_non_quantized and inp.method == "qlora" else dt
        label = "weights: embeddings, head, norms" if inp.method == "qlora" else "weights: all"
        m.add(f"{label} ({rest_dtype})", "static", rest)
        p = lora_params(inp)
        m.add(f"LoRA params+grads+{inp.optimizer} (fp32, {p / 1e6:.3g}M)", "static",
              p * (8 + OPTIMIZER_STATE_BYTES[inp.optimizer]))
    t = inp.teacher
    if t is not None:
        nf4, rest = weight_bytes(t, inp.teacher_quant == "nf4", d)
        m.add(f"teacher weights ({inp.teacher_quant if inp.teacher_quant == 'nf4' else dt})",
              "static", nf4 + rest)
        m.add("teacher forward (one layer, no grad)", "teacher",
              n * d * (3 * t.intermediate_size + 4 * t.hidden_size))
    if inp.kd_cache_topk:
        m.add(f"cached top-{inp.kd_cache_topk} targets", "static",
              n * (inp.kd_cache_topk * TOPK_ROW_BYTES + 4))
    # --- activations ---------------------------------------------------------------------------
    kept, transient = layer_activation_bytes(inp)
    # The final norm's fp32 copy and the head input stay for the loss and its backward.
    head_input = n * (4 * a.hidden_size + d * a.hidden_size)
    if inp.grad_checkpointing:
        m.add("activations: layer inputs (checkpointed)", STUDENT,
              a.num_layers * n * d * a.hidden_size)
        m.add("activations: one layer recomputed + grads", "backward", n * (kept + transient))
    else:
        m.add("activations: all layers", STUDENT, a.num_layers * n * kept)
        m.add("activations: layer gradients in flight", "backward", n * transient)
    m.add("final norm + head input", STUDENT, head_input)
    if inp.method == "qlora":
        m.add("NF4 dequantised weight (transient)", "backward",
              max(i * o for i, o in a.linear_shapes().values()) * d)
    # --- loss --------------------------------------------------------------------------------
    v = a.vocab_size
    # Distillation's extra [rows, vocab] work: a live teacher's logits (head dtype) plus the fp32
    # divergence buffers; against cached top-k targets only the student's fp32 log-probs and grads.
    kd_per_row = (t.vocab_size * (d + 4 * KD_CHUNK_FP32_BUFFERS) if t is not None
                  else v * 2 * 4 if inp.kd_cache_topk else 0)
    if inp.loss_chunk_size is None:
        m.add("loss: full logits (fp32 softmax + grads)", "loss", n * v * FULL_LOGIT_BYTES)
        m.add("KD: full-vocabulary divergence", "loss", n * kd_per_row)
    else:
        c = min(inp.loss_chunk_size, n)
        # head-dtype logits, upcast to fp32 and turned into softmax - onehot in place, cast back to
        # the head dtype for the hidden-state gradient matmul: d + 4 bytes per logit (measured).
        m.add(f"loss: {c}-token chunk of logits", "loss", c * v * (d + 4))
        m.add("loss: stored hidden-state gradient", "loss", n * a.hidden_size * d)
        if inp.method == "full":
            m.add("loss: fp32 head-gradient accumulator", "loss", v * a.hidden_size * 4)
        k = min(inp.kd_chunk_size or c, n)
        m.add(f"KD: {k}-token chunk of divergence", "loss", k * kd_per_row)
    if t is not None:
        m.add("teacher final hidden states", "loss", n * t.hidden_size * d)
    return m


def inference_memory(arch: ArchSpec, quantised: bool, dtype: str, sequences: int, seq_len: int,
                     kv_tokens: int = 0, logit_rows: int = 1) -> MemoryBreakdown:
    """Peak memory of a frozen model that only runs forward (a traces teacher generating, a
    distill-cache teacher scoring): weights, the KV cache of `sequences` × `kv_tokens` (0: no cache),
    one layer's activations over `sequences` × `seq_len` tokens, and `logit_rows` vocabulary rows
    of logits (16-bit, then fp32)."""
    d = DTYPE_BYTES[dtype]
    m = MemoryBreakdown()
    nf4, rest = weight_bytes(arch, quantised, d)
    m.add(f"weights ({'NF4 linear layers + ' if quantised else ''}{dtype})", "static", nf4 + rest)
    if kv_tokens:
        m.add(f"KV cache ({sequences} × {kv_tokens} tokens)", "static",
              2 * arch.num_layers * arch.kv_dim * d * sequences * kv_tokens)
    m.add("forward: one layer's activations", "loss",
          sequences * seq_len * d * (3 * arch.intermediate_size + 4 * arch.hidden_size))
    m.add(f"logits ({logit_rows} rows)", "loss", logit_rows * arch.vocab_size * (d + 4))
    return m
