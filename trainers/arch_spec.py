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
    head_dim: int | None = None  # None -> hidden_size // num_heads

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
        """Parameters of one transformer block: linear weights, q/k/v biases (Qwen2), two RMSNorms."""
        linear = sum(a * b for a, b in self.linear_shapes().values())
        qkv_bias = self.q_dim + 2 * self.kv_dim if self.model_type == "qwen2" else 0
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
        return cls(
            model_type=get("model_type"),
            hidden_size=get("hidden_size"),
            num_layers=get("num_hidden_layers"),
            num_heads=heads,
            num_kv_heads=get("num_key_value_heads") or heads,
            intermediate_size=get("intermediate_size"),
            vocab_size=get("vocab_size"),
            tie_embeddings=bool(get("tie_word_embeddings", False)),
            head_dim=get("head_dim"),
        )
