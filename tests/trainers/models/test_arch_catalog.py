"""Shipped architecture configs load and give the published parameter counts; lookups and errors.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/models/test_arch_catalog.py -q
"""
from __future__ import annotations

import json

import pytest

from trainers.models.arch_catalog import (ARCH_DIR, catalogue_index, known_names,
                                   load_arch, shipped)
from trainers.errors import UserError
from trainers.models.trainable import config_block_targets

# Published totals (model cards / safetensors metadata), in parameters.
KNOWN_SIZES = {
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": 1.777e9,
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": 7.616e9,
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B": 8.03e9,
    "Qwen/Qwen2.5-0.5B": 0.494e9,
    "Qwen/Qwen2.5-1.5B": 1.54e9,
    "Qwen/Qwen2.5-3B": 3.09e9,
    "Qwen/Qwen2.5-7B": 7.61e9,
    "meta-llama/Llama-3.2-1B": 1.24e9,
    "meta-llama/Llama-3.2-3B": 3.21e9,
    "meta-llama/Llama-3.1-8B": 8.03e9,
    "LGAI-EXAONE/EXAONE-3.5-2.4B-Instruct": 2.41e9,
    "LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct": 7.82e9,
    # Gemma 3 (text): 270M = 170M embedding + 100M blocks; 1B = 999,885,952; 4B's language model
    # alone (its 4.3B total includes the SigLIP vision tower); SmolLM2 = 134,515,008.
    "google/gemma-3-270m": 268e6,
    "google/gemma-3-1b-pt": 1.0e9,
    "google/gemma-3-4b-pt": 3.88e9,
    "HuggingFaceTB/SmolLM2-135M-Instruct": 134.5e6,
}
# EXAONE's model card states its size without embeddings.
NON_EMBEDDING = {"LGAI-EXAONE/EXAONE-3.5-2.4B-Instruct": 2.14e9,
                 "LGAI-EXAONE/EXAONE-3.5-7.8B-Instruct": 6.98e9}


def test_every_catalogued_model_is_shipped():
    hubs = {cfg["hub_id"] for cfg in shipped().values()}
    assert hubs == set(KNOWN_SIZES)


@pytest.mark.parametrize("hub_id", sorted(KNOWN_SIZES))
def test_param_count_matches_published_size(hub_id):
    arch = load_arch(hub_id)
    assert arch.param_count() == pytest.approx(KNOWN_SIZES[hub_id], rel=0.01)
    if hub_id in NON_EMBEDDING:
        assert arch.non_embedding_params() == pytest.approx(NON_EMBEDDING[hub_id], rel=0.01)


def test_design_facts_for_the_r1_distills():
    small, big = load_arch("r1-distill-qwen-1.5b"), load_arch("R1-DISTILL-QWEN-7B")
    assert (small.hidden_size, small.num_layers, small.num_heads, small.num_kv_heads,
            small.intermediate_size, small.vocab_size, small.tie_embeddings) == \
        (1536, 28, 12, 2, 8960, 151936, False)
    assert (big.hidden_size, big.num_heads, big.num_kv_heads, big.intermediate_size,
            big.vocab_size) == (3584, 28, 4, 18944, 152064)
    assert load_arch("qwen2.5-1.5b").tie_embeddings and not load_arch("qwen2.5-7b").tie_embeddings


def test_names_are_case_insensitive_and_cover_instruct_variants():
    assert load_arch("qwen/qwen2.5-7b-instruct") == load_arch("Qwen/Qwen2.5-7B")
    assert load_arch("  Llama-3.1-8B ") == load_arch("meta-llama/Meta-Llama-3.1-8B-Instruct")
    assert load_arch("exaone-3.5-2.4b").model_type == "exaone"
    assert len(catalogue_index()) > 3 * len(known_names())


def test_shipped_exaone_files_use_exaone_key_names():
    raw = json.loads((ARCH_DIR / "exaone-3.5-2.4b-instruct.json").read_text())
    assert "num_layers" in raw and "num_hidden_layers" not in raw
    arch = load_arch("LGAI-EXAONE/EXAONE-3.5-2.4B-Instruct")
    assert (arch.num_layers, arch.hidden_size, arch.num_kv_heads, arch.vocab_size) == (30, 2560, 8, 102400)


def test_local_directory_with_custom_keys(tmp_path):
    cfg = {"model_type": "exaone", "hidden_size": 256, "num_layers": 3, "num_attention_heads": 4,
           "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000,
           "layer_norm_epsilon": 1e-5}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    arch = load_arch(str(tmp_path))
    assert (arch.num_layers, arch.num_kv_heads, arch.vocab_size) == (3, 2, 1000)
    # a config.json without tie_word_embeddings means the default of the config class that loads it:
    # transformers' native ExaoneConfig (untied) where it has one, else PretrainedConfig's (tied)
    from transformers import CONFIG_MAPPING
    expected = CONFIG_MAPPING["exaone"]().tie_word_embeddings if "exaone" in CONFIG_MAPPING else True
    assert arch.tie_embeddings is bool(expected)


def test_local_qwen2_without_tie_key_uses_class_default(tmp_path):
    cfg = {"model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 300}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_arch(str(tmp_path / "config.json")).tie_embeddings is False


def test_unknown_name_lists_catalogue(tmp_path):
    with pytest.raises(UserError) as err:
        load_arch("acme/NotAModel-3B")
    assert "deepseek-r1-distill-qwen-1.5b" in str(err.value)
    with pytest.raises(UserError, match="no config.json"):
        load_arch(str(tmp_path))


def test_config_missing_fields_is_user_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(UserError, match="num_hidden_layers"):
        load_arch(str(tmp_path))


def test_module_names_map_per_family():
    exaone, qwen = load_arch("exaone-3.5-7.8b"), load_arch("qwen2.5-0.5b")
    assert config_block_targets(exaone, ["out_proj", "c_fc_0", "c_fc_1", "c_proj", "q_proj"]) == \
        ("q_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert config_block_targets(qwen, ["q_proj", "v_proj", "q_proj"]) == ("q_proj", "v_proj")
    with pytest.raises(UserError, match="not linear layers"):
        config_block_targets(qwen, ["qkv"])
