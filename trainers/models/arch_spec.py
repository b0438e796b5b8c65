"""The few numbers of a decoder-only transformer that memory, FLOP and smoke-model code need.

Kept separate from transformers' config classes so the planner, the compute meter and the tiny-model
builder can work offline from a shipped JSON file or a local `config.json` alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class ArchSpec:
    model_type: str            # "qwen2", "llama", "exaone", ... (transformers' model_type)
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    tie_embeddings: bool
    head_dim: int | None = None  # None -> hidden_size // num_heads (Gemma 3: 256 whatever the width)
    sliding_window: int | None = None  # keys a sliding-window layer attends to at most (Gemma 3: 512)
    sliding_layers: int = 0            # how many of num_layers use that window; the rest attend globally

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * (self.head_dim or self.hidden_size // self.num_heads)

    @property
    def q_dim(self) -> int:
        return self.num_heads * (self.head_dim or self.hidden_size // self.num_heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one block, by the module names Qwen2/Llama use."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_dim), "k_proj": (h, self.kv_dim), "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h), "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
        }

    def block_params(self) -> int:
        """Parameters of one transformer block: linear weights, q/k/v biases (Qwen2), RMSNorms — two,
        or for Gemma 3 four (pre/post attention and MLP) plus the per-head q/k norms."""
        linear = sum(a * b for a, b in self.linear_shapes().values())
        qkv_bias = self.q_dim + 2 * self.kv_dim if self.model_type == "qwen2" else 0
        if self.model_type in GEMMA3_TYPES:
            return linear + 4 * self.hidden_size + 2 * (self.head_dim or self.hidden_size // self.num_heads)
        return linear + qkv_bias + 2 * self.hidden_size

    def embedding_params(self) -> int:
        """Input embedding plus output head (one matrix when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_embeddings else 2)

    def param_count(self) -> int:
        return self.num_layers * self.block_params() + self.embedding_params() + self.hidden_size

    def non_embedding_params(self) -> int:
        return self.num_layers * self.block_params() + self.hidden_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_hf_config(cls, cfg: Mapping[str, Any] | Any) -> "ArchSpec":
        """From a transformers config object or a parsed config.json dict."""
        get = cfg.get if isinstance(cfg, Mapping) else (lambda k, d=None: getattr(cfg, k, d))
        heads = get("num_attention_heads")
        layers = get("num_hidden_layers")
        return cls(
            model_type=get("model_type"),
            hidden_size=get("hidden_size"),
            num_layers=layers,
            num_heads=heads,
            num_kv_heads=get("num_key_value_heads") or heads,
            intermediate_size=get("intermediate_size"),
            vocab_size=get("vocab_size"),
            tie_embeddings=bool(get("tie_word_embeddings", False)),
            head_dim=get("head_dim"),
            **_sliding(get, layers),
        )


GEMMA3_TYPES = ("gemma3", "gemma3_text")


def _sliding(get, layers: int) -> dict:
    """Sliding-window layers from `layer_types` (transformers 5 configs) or the older
    `sliding_window_pattern` (every p-th layer global, Gemma 3's 5 local : 1 global). A
    `sliding_window` alone means nothing: Qwen2 configs carry one with use_sliding_window false."""
    window = get("sliding_window")
    types = get("layer_types")
    pattern = get("sliding_window_pattern") or get("_sliding_window_pattern")
    if not window:
        return {}
    if types:
        n = sum(t == "sliding_attention" for t in types)
    elif pattern:
        n = layers - layers // pattern
    else:
        return {}
    return {"sliding_window": window, "sliding_layers": n} if n else {}
