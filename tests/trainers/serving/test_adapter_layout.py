"""The adapter kdtune saves loads in peft and has vLLM's LoRA layout; adapters that break the
layout (undeclared head weights, a lone lora_A, adapter biases) are named by the check."""
import json

import pytest
import torch

from trainers.serving.adapter_layout import check_vllm_layout


@pytest.fixture()
def adapter(tiny_models, tmp_path):
    from peft import LoraConfig, get_peft_model
    model, _ = tiny_models["qwen2"]
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    peft.save_pretrained(tmp_path / "a")
    peft.unload()          # the session fixture's model stays a plain model
    return tmp_path / "a"


def test_saved_adapter_has_vllm_layout_and_loads_in_peft(adapter, tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    r = check_vllm_layout(adapter)
    assert r["ok"], r["problems"]
    layers = tiny_models["qwen2"][0].config.num_hidden_layers
    assert r["modules"] == ["down_proj", "q_proj", "v_proj"] and r["r"] == 4 and r["tensors"] == 3 * 2 * layers
    base = AutoModelForCausalLM.from_config(tiny_models["qwen2"][0].config)
    loaded = PeftModel.from_pretrained(base, str(adapter))
    assert sum("lora_A" in n for n, _ in loaded.named_parameters()) == 3 * layers


def _edit(adapter, drop=None, add=None, config=None):
    from safetensors.torch import load_file, save_file
    weights = load_file(adapter / "adapter_model.safetensors")
    for k in [k for k in weights if drop and drop in k]:
        del weights[k]
    weights.update(add or {})
    save_file(weights, adapter / "adapter_model.safetensors")
    if config:
        cfg = json.loads((adapter / "adapter_config.json").read_text())
        (adapter / "adapter_config.json").write_text(json.dumps({**cfg, **config}))


def test_undeclared_head_weights_are_a_problem(adapter):
    _edit(adapter, add={"base_model.model.lm_head.lora_A.weight": torch.zeros(4, 64),
                        "base_model.model.lm_head.lora_B.weight": torch.zeros(2048, 4)})
    r = check_vllm_layout(adapter)
    assert not r["ok"] and sum("lm_head weights without the config declaring" in p for p in r["problems"]) == 2


def test_lone_lora_a_wrong_rank_and_bias_are_problems(adapter):
    _edit(adapter, drop="layers.0.self_attn.q_proj.lora_B", config={"bias": "all"},
          add={"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight": torch.zeros(8, 192)})
    problems = check_vllm_layout(adapter)["problems"]
    assert any("q_proj: has lora_A without its pair" in p for p in problems)
    assert any("does not have rank r=4" in p for p in problems) and any("bias='all'" in p for p in problems)
