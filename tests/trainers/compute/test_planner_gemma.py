"""The planner's activation model on Gemma 3's layout, against memory measured here (CPU allocator,
fp32), as test_planner.py calibrates it on Qwen2: four RMSNorms per block plus per-head q/k norms,
head_dim ≠ hidden/heads, sliding-window layers, tied embeddings. Without the extra norms the
prediction read 0.88 of the measured peak.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/compute/test_planner_gemma.py -q
"""
import pytest
import torch

from tests.trainers.compute.test_planner import assert_activation_model_matches
from trainers.models.arch_spec import ArchSpec


@pytest.mark.parametrize("checkpointing", [False, True])
def test_gemma_activation_model_within_20pct_of_measured(checkpointing, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    cfg = Gemma3TextConfig(hidden_size=256, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=1,
                           head_dim=128, intermediate_size=768, vocab_size=4000, sliding_window=128,
                           query_pre_attn_scalar=128)
    model = peft.get_peft_model(Gemma3ForCausalLM(cfg), peft.LoraConfig(r=8, target_modules="all-linear"))
    arch = ArchSpec.from_hf_config(cfg.to_dict())
    assert (arch.head_dim, arch.sliding_layers, arch.tie_embeddings) == (128, 5, True)
    assert_activation_model_matches(model, arch, checkpointing, tmp_path)
