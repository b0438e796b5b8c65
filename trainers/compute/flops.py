"""FLOPs per token of a decoder-only transformer, counted from its architecture.

Conventions (one multiply-add = 2 FLOPs; elementwise work — norms, activations, softmax, biases,
rotary, LoRA scaling, QLoRA dequantisation — is not counted: it is small next to the matmuls and
is memory-bound, which is why QLoRA is slower than LoRA at the same FLOP count):

* **N** is the number of *matmul* parameters one token passes through: every linear weight of every
  block plus the output head (vocab × hidden). The input embedding is a table lookup and costs no
  FLOPs, so it is excluded — even when it is tied to the head, because the head matmul still runs.
  This is why N differs from `ArchSpec.param_count()` and `non_embedding_params()`.
* **Linear layers.** Forward 2N per token. Backward needs the gradient of the activations (2N) and,
  only for weights that train, the gradient of the weights (another 2N). So full fine-tuning costs
  6N per token and LoRA/QLoRA 4N (frozen base weights) plus the adapters' own terms.
* **Attention** (score and value matmuls, which have no parameters), PaLM appendix B convention:
  L layers, H query heads, Q head dim, T sequence length, counting the full T×T score matrix (no
  causal halving): forward 4·L·H·Q·T per token (QKᵀ 2·H·Q·T + AV 2·H·Q·T), training 12·L·H·Q·T
  (backward = 2 × forward). Forward-only work (evaluation, a teacher, prefill) uses the same
  per-token T convention: 4·L·H·Q·T, i.e. 4·L·d·T when H·Q equals the hidden size d. Q is the
  config's head_dim, which need not be d/H (Gemma 3: 256). A sliding-window layer (Gemma 3: window
  512 on 5 of every 6 layers) attends to at most `window` keys, so it counts min(T, window) in
  place of T: forward 4·H·Q·((L−S)·T + S·min(T, W)) with S sliding layers of window W.
* **LoRA adapter** on a linear (in → out) with rank r: forward x·A (2·r·in) then ·B (2·r·out) =
  2·r·(in+out); backward computes both activation and weight gradients, 4·r·(in+out); 6·r·(in+out)
  per target per token in training.
* **Activation checkpointing** (per decoder layer, as transformers' gradient checkpointing does)
  reruns each layer's forward during backward: the block matmuls (2·N_blocks — not the output head,
  which sits outside the checkpointed layers), attention forward (4·L·H·Q·T) and adapter forwards.
  DESIGN.md's "≈ 2N of recompute" is this with the head left in. This is exact for reentrant
  checkpointing; PyTorch's non-reentrant checkpoint stops recomputing once every saved tensor is
  back, so it skips trailing matmuls whose outputs nobody saved (each layer's down_proj): a few
  percent less than counted here.
* Gradients are counted down to the first layer's input, as happens when the embeddings train or
  when `enable_input_require_grads()` is on (checkpointing needs it). A LoRA run without it skips
  the first layer's q/k/v input gradients, 2·hidden·(q+k+v widths) per token — negligible.
* **The output head runs only on target tokens.** The chunked losses (trainers/losses/chunked_ce.py,
  kd.py) project to the vocabulary only the positions that carry a label, so a run's FLOPs are
  (total − head) per input token + head per target token; `FlopBreakdown.head` is that head part
  (forward 2·V·d, activation gradient 2·V·d, weight gradient 2·V·d when it trains, its adapter),
  and `TokenCost` splits a breakdown that way for the compute meter.
* **MFU** (PaLM) counts the work the model needs, not recompute: model FLOPs = total − recompute,
  i.e. 6N + 12·L·H·Q·T for full fine-tuning and 4N + 12·L·H·Q·T + adapters for LoRA (labelled by
  `mfu_basis`, since a LoRA MFU is not comparable with a full-fine-tune MFU).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Literal

from trainers.errors import ConfigValueError
from trainers.models.arch_spec import ArchSpec

Method = Literal["full", "lora", "qlora"]
METHODS = ("full", "lora", "qlora")
LM_HEAD = "lm_head"


@dataclass(frozen=True)
class FlopBreakdown:
    """FLOPs for one trained token. `total` is what the hardware does; `model_flops_for_mfu` excludes recompute."""
    forward: int       # base linear layers incl. output head, forward: 2N
    backward: int      # base linear layers, backward: 4N full, 2N LoRA/QLoRA
    recompute: int     # checkpointing: block linears + attention + adapters rerun; 0 without it
    attention: int     # attention score/value matmuls, forward + backward: 12·L·H·Q·T
    adapter: int       # LoRA adapters, forward + backward: 6·r·(in+out) per target; 0 for full
    total: int
    model_flops_for_mfu: int
    method: str
    n_matmul_params: int   # N as defined in the module docstring
    mfu_basis: str         # "6N+12LHQT" or "4N+12LHQT+adapter"
    head: int = 0          # of `total` (and of model FLOPs): the output head's part, run per target token

    def to_dict(self) -> dict:
        return asdict(self)


def head_dim(arch: ArchSpec) -> int:
    return arch.head_dim or arch.hidden_size // arch.num_heads


def block_matmul_params(arch: ArchSpec) -> int:
    """Linear weights of all decoder layers (biases and norms excluded: they are not matmuls)."""
    return arch.num_layers * sum(i * o for i, o in arch.linear_shapes().values())


def lm_head_params(arch: ArchSpec) -> int:
    return arch.vocab_size * arch.hidden_size


def matmul_params(arch: ArchSpec) -> int:
    """N: block linears + output head; the input embedding lookup is excluded (no FLOPs)."""
    return block_matmul_params(arch) + lm_head_params(arch)


def attention_keys(arch: ArchSpec, seq_len: int) -> int:
    """Keys one query is counted against, summed over layers: T on each global layer, min(T, window)
    on each sliding-window layer."""
    s = arch.sliding_layers if arch.sliding_window else 0
    return (arch.num_layers - s) * seq_len + s * min(seq_len, arch.sliding_window or seq_len)


def attention_forward_flops_per_token(arch: ArchSpec, seq_len: int) -> int:
    """4·L·H·Q·T: QKᵀ and AV for one query against T keys, full (non-causal) count, as PaLM does
    (min(T, window) keys on sliding-window layers)."""
    return 4 * arch.num_heads * head_dim(arch) * attention_keys(arch, seq_len)


def _window_sum(first: int, last: int, window: int) -> int:
    """Σ min(c, window) for c = first..last."""
    if last < first:
        return 0
    below_end = min(last, window)
    below = (first + below_end) * (below_end - first + 1) // 2 if below_end >= first else 0
    return below + max(0, last - max(first - 1, window)) * window


def adapter_forward_flops_per_token(arch: ArchSpec, lora_r: int,
                                    lora_targets: Iterable[str] | None = None) -> int:
    """2·r·(in+out) summed over adapted linears; `lora_targets` None means every block linear.

    Targets are module names from `ArchSpec.linear_shapes()` (adapted in every layer) or "lm_head"
    (one matrix). An unknown name is an error rather than silently counting nothing.
    """
    if lora_r is None or lora_r <= 0:
        raise ValueError(f"LoRA FLOPs need a positive lora_r, got {lora_r!r}")
    shapes = arch.linear_shapes()
    targets = list(shapes) if lora_targets is None else list(lora_targets)
    unknown = sorted(set(targets) - set(shapes) - {LM_HEAD})
    if unknown:
        raise ConfigValueError(f"lora.target_modules names {', '.join(unknown)}, which this model's layers do not "
                               f"have (its block linears: {', '.join(shapes)}); set lora.target_modules to "
                               f"some of those, or all-linear")
    flops = 0
    for name in dict.fromkeys(targets):  # de-duplicate, keep order
        if name == LM_HEAD:
            flops += 2 * lora_r * (arch.hidden_size + arch.vocab_size)
        else:
            i, o = shapes[name]
            flops += arch.num_layers * 2 * lora_r * (i + o)
    return flops


def train_flops_per_token(arch: ArchSpec, seq_len: int, method: Method,
                          lora_r: int | None = None, lora_targets: Iterable[str] | None = None,
                          grad_checkpointing: bool = False) -> FlopBreakdown:
    """FLOPs to train on one token of a sequence of `seq_len` tokens (see module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    n = matmul_params(arch)
    attn_fwd = attention_forward_flops_per_token(arch, seq_len)
    forward = 2 * n
    if method == "full":
        backward = 4 * n            # activation gradients + weight gradients
        adapter_fwd = 0
        basis = "6N+12LHQT"
    else:
        backward = 2 * n            # frozen weights: activation gradients only
        adapter_fwd = adapter_forward_flops_per_token(arch, lora_r, lora_targets)
        basis = "4N+12LHQT+adapter"
    adapter = 3 * adapter_fwd       # forward + (activation + weight) gradients
    attention = 3 * attn_fwd        # forward + backward (2×)
    # Checkpointed layers rerun their forward; the head is outside them and is not rerun.
    recompute = (2 * block_matmul_params(arch) + attn_fwd + adapter_fwd) if grad_checkpointing else 0
    model = forward + backward + attention + adapter
    # The head: forward + activation gradient, + weight gradient when it trains (full), + its adapter.
    head_adapter = adapter_forward_flops_per_token(arch, lora_r, [LM_HEAD]) \
        if method != "full" and LM_HEAD in (lora_targets or ()) else 0
    head = (6 if method == "full" else 4) * lm_head_params(arch) + 3 * head_adapter
    return FlopBreakdown(
        forward=forward, backward=backward, recompute=recompute, attention=attention, adapter=adapter,
        total=model + recompute, model_flops_for_mfu=model, method=method, n_matmul_params=n,
        mfu_basis=basis, head=head,
    )


def forward_flops_per_token(arch: ArchSpec, seq_len: int, lora_r: int | None = None,
                            lora_targets: Iterable[str] | None = None) -> int:
    """One forward token (evaluation scoring, a distillation teacher): 2N + 4·L·H·Q·T.

    Pass `lora_r` to add unmerged adapters' forward cost; merged adapters cost nothing extra.
    """
    flops = 2 * matmul_params(arch) + attention_forward_flops_per_token(arch, seq_len)
    if lora_r is not None:
        flops += adapter_forward_flops_per_token(arch, lora_r, lora_targets)
    return flops


def generation_flops(arch: ArchSpec, prompt_len: int, new_tokens: int) -> int:
    """FLOPs to generate `new_tokens` after a prompt of `prompt_len` with a KV cache (one sequence).

    Prefill runs the prompt through the blocks as a forward pass (per-token attention over
    `prompt_len`, the training convention) but, as `generate` passes `logits_to_keep=1`, the output
    head only for the last position — that position's logits give the first new token. Each later
    token is one decode step: block linears + head (2N) and attention of one query over the cache,
    which holds the tokens so far including itself (4·L·H·Q·context). The last generated token is
    never fed back, so there are `new_tokens - 1` decode steps.
    """
    if prompt_len <= 0 or new_tokens < 0:
        raise ValueError(f"need prompt_len > 0 and new_tokens >= 0, got {prompt_len}, {new_tokens}")
    if new_tokens == 0:
        return 0
    prefill = prompt_len * (2 * block_matmul_params(arch) + attention_forward_flops_per_token(arch, prompt_len)) \
        + 2 * lm_head_params(arch)
    steps = new_tokens - 1
    # Step j (1..steps) feeds token j at position prompt_len + j - 1: its context is prompt_len + j
    # (capped at the window on sliding-window layers).
    context_sum = steps * prompt_len + steps * (steps + 1) // 2
    s = arch.sliding_layers if arch.sliding_window else 0
    keys = (arch.num_layers - s) * context_sum + \
        (s * _window_sum(prompt_len + 1, prompt_len + steps, arch.sliding_window) if s else 0)
    decode = steps * 2 * matmul_params(arch) + 4 * arch.num_heads * head_dim(arch) * keys
    return prefill + decode


@dataclass(frozen=True)
class TokenCost:
    """FLOPs of one step split by what runs where: blocks, attention and block adapters on every
    input token; the output head on every target token. `*_model` leaves recompute out (MFU)."""
    input_total: int
    input_model: int
    target_total: int
    target_model: int

    def flops(self, input_tokens: int, target_tokens: int) -> tuple[int, int]:
        """-> (hardware FLOPs, model FLOPs) of `input_tokens` through the blocks and `target_tokens`
        through the head."""
        return (input_tokens * self.input_total + target_tokens * self.target_total,
                input_tokens * self.input_model + target_tokens * self.target_model)


def train_token_cost(b: FlopBreakdown, head_passes: int = 1) -> TokenCost:
    """A training breakdown as per-input / per-target costs. `head_passes`: how many times the loss
    runs the head (with its backward) over each target — 2 for logit KD (CE and KD each project)."""
    return TokenCost(b.total - b.head, b.model_flops_for_mfu - b.head, head_passes * b.head, head_passes * b.head)


def teacher_token_cost(arch: ArchSpec, seq_len: int) -> TokenCost:
    """A frozen teacher's forward: blocks + attention on every input token (2·N_blocks + 4·L·H·Q·T),
    its head only on the distilled (target) positions (2·V·d)."""
    block = 2 * block_matmul_params(arch) + attention_forward_flops_per_token(arch, seq_len)
    head = 2 * lm_head_params(arch)
    return TokenCost(block, block, head, head)


def sequence_forward_flops(arch: ArchSpec, input_len: int, n_targets: int) -> int:
    """One sequence through a frozen model with the head on `n_targets` positions, attention at the
    sequence's own length (what distill-cache does per example)."""
    return input_len * (2 * block_matmul_params(arch) + attention_forward_flops_per_token(arch, input_len)) \
        + n_targets * 2 * lm_head_params(arch)
