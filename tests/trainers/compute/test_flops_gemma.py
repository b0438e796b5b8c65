"""Gemma 3 in the FLOP counter and ArchSpec: head_dim ≠ hidden/heads, sliding-window layers, tied
embeddings, four norms + q/k norms per block — by hand arithmetic, written out to redo on paper.

The tiny Gemma 3 (trainers.models.tiny_model "gemma3"): hidden 64, 6 layers (5 sliding, then 1 global),
4 query heads / 1 KV head of width 32 (hidden/heads would be 16), intermediate 128, window 16, tied.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/compute/test_flops_gemma.py -q
"""
import pytest

from trainers.models.arch_catalog import load_arch
from trainers.models.arch_spec import ArchSpec
from trainers.compute.flops import (attention_forward_flops_per_token, attention_keys, block_matmul_params,
                            generation_flops, lm_head_params, matmul_params, train_flops_per_token)

V = 2048
GEMMA = ArchSpec(model_type="gemma3_text", hidden_size=64, num_layers=6, num_heads=4, num_kv_heads=1,
                 intermediate_size=128, vocab_size=V, tie_embeddings=True, head_dim=32,
                 sliding_window=16, sliding_layers=5)

# one block: q 64→4·32, k 64→32, v 64→32, o 128→64, gate/up 64→128, down 128→64
BLOCK = 64 * 128 + 64 * 32 + 64 * 32 + 128 * 64 + 3 * 64 * 128        # 45,056
HEAD = V * 64                                                         # 131,072 (tied: still a matmul)


def test_linear_shapes_use_head_dim_not_hidden_over_heads():
    shapes = GEMMA.linear_shapes()
    assert shapes["q_proj"] == (64, 128) and shapes["k_proj"] == (64, 32) and shapes["o_proj"] == (128, 64)
    assert block_matmul_params(GEMMA) == 6 * BLOCK == 270_336
    assert matmul_params(GEMMA) == 6 * BLOCK + HEAD == 401_408


def test_attention_counts_the_window_on_sliding_layers():
    # T = 32 > window: the global layer sees 32 keys, each sliding layer 16 -> 112 keys in all
    assert attention_keys(GEMMA, 32) == 32 + 5 * 16 == 112
    assert attention_forward_flops_per_token(GEMMA, 32) == 4 * 4 * 32 * 112 == 57_344
    # without windows it would be 4·L·H·Q·T = 4·6·4·32·32
    no_window = ArchSpec(**{**GEMMA.to_dict(), "sliding_window": None, "sliding_layers": 0})
    assert attention_forward_flops_per_token(no_window, 32) == 4 * 6 * 4 * 32 * 32 == 98_304
    # T = 8 < window: every layer sees all 8 keys, the plain 4·L·H·Q·T
    assert attention_forward_flops_per_token(GEMMA, 8) == 4 * 6 * 4 * 32 * 8 == 24_576


def test_training_flops_hand_values_with_windows():
    b = train_flops_per_token(GEMMA, 32, "lora", lora_r=4)
    n = 6 * BLOCK + HEAD
    # LoRA r=4 forward per layer: 2·4·Σ(in+out) = 8·(192 + 96 + 96 + 192 + 192 + 192 + 192) = 9,216
    adapter_fwd = 6 * 8 * (192 + 96 + 96 + 192 + 192 + 192 + 192)
    assert adapter_fwd == 55_296
    assert (b.forward, b.backward, b.attention, b.adapter) == (2 * n, 2 * n, 3 * 57_344, 3 * adapter_fwd)
    assert b.total == 4 * 401_408 + 172_032 + 165_888 == 1_943_552


def test_generation_flops_hand_values_and_naive_loop():
    # prompt 10, 12 new tokens: prefill attends over min(10, 16) = 10 keys everywhere; the 11 decode
    # steps see contexts 11..21 — all of them on the global layer (sum 176), capped at 16 on the
    # five sliding ones (11+12+13+14+15+16 + 5·16 = 161 each)
    prefill = 10 * (2 * 6 * BLOCK + 4 * 4 * 32 * (6 * 10)) + 2 * HEAD
    decode = 11 * 2 * (6 * BLOCK + HEAD) + 4 * 4 * 32 * (176 + 5 * 161)
    assert generation_flops(GEMMA, 10, 12) == prefill + decode == 15_309_312
    # the closed form agrees with a step-by-step loop on windows and long generations alike
    for p, k in [(3, 40), (20, 1), (16, 2), (100, 37)]:
        naive = p * (2 * block_matmul_params(GEMMA) + attention_forward_flops_per_token(GEMMA, p)) \
            + 2 * lm_head_params(GEMMA)
        naive += sum(2 * matmul_params(GEMMA) + attention_forward_flops_per_token(GEMMA, p + j) for j in range(1, k))
        assert generation_flops(GEMMA, p, k) == naive, (p, k)


def test_real_gemma_3_270m_attention_at_2048_tokens():
    arch = load_arch("gemma-3-270m")
    assert (arch.head_dim, arch.sliding_window, arch.sliding_layers, arch.num_layers) == (256, 512, 15, 18)
    # 3 global layers × 2048 keys + 15 sliding × 512 = 13,824 keys; × 4·H·Q = 4·4·256
    assert attention_forward_flops_per_token(arch, 2048) == 4 * 4 * 256 * 13_824 == 56_623_104
    # a third of what ignoring the windows would claim (4·18·4·256·2048)
    assert 4 * 18 * 4 * 256 * 2048 == 150_994_944


def test_arch_spec_of_the_tiny_gemma_model_counts_its_parameters():
    from transformers import AutoModelForCausalLM

    from trainers.models.model_loading import resolve_model_source
    model = AutoModelForCausalLM.from_pretrained(resolve_model_source("tiny:gemma3")[0])
    spec = ArchSpec.from_hf_config(model.config)
    assert spec == GEMMA
    # four RMSNorms of the hidden size and q/k norms of the head width per block, tied embedding once
    assert spec.block_params() == BLOCK + 4 * 64 + 2 * 32
    assert spec.param_count() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["gemma-3-270m", "gemma-3-1b", "gemma-3-4b"])
def test_catalogue_pattern_and_transformers_layer_types_agree(name):
    """The catalogue stores `sliding_window_pattern: 6`; transformers expands it to `layer_types`."""
    from transformers import Gemma3TextConfig

    from trainers.models.arch_catalog import load_arch_config
    raw = {k: v for k, v in load_arch_config(name).items()
           if k not in ("hub_id", "also_hub_ids", "aliases", "rope_scaling", "rope_theta", "rope_local_base_freq")}
    assert ArchSpec.from_hf_config(Gemma3TextConfig(**raw)) == load_arch(name)
