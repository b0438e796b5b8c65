"""One trainable set: read back from the wrapped model, it agrees with what the planner resolves from
the config, and the FLOP counter and the planner count exactly the adapter parameters the model has;
LoRA on the output head or the embeddings is refused when the config is validated (exit 2).

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/models/test_trainable.py -q
"""
from __future__ import annotations

import pytest
import torch

from recipes.cli import main
from trainers.compute.flops import adapter_forward_flops_per_token, train_flops_per_token
from trainers.compute.plan_memory import PlanInput, lora_params
from trainers.config.loader import load_config
from trainers.errors import ConfigError, UserError
from trainers.models.arch_catalog import load_arch
from trainers.models.arch_spec import ArchSpec
from trainers.models.model_builder import build_model
from trainers.models.trainable import config_block_targets, resolve_trainable

CPU = torch.device("cpu")


def lora_numel(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)


@pytest.mark.parametrize("targets", ["all-linear", ["q_proj", "v_proj"], ["down_proj", "o_proj", "q_proj"]])
def test_read_back_equals_config_and_counts_the_real_adapters(targets):
    cfg = load_config("smoke/tiny_lora.yaml", [f"lora.target_modules={targets!r}".replace("'", "")])
    built = build_model(cfg.model, cfg.lora, cfg.quant, torch.float32, CPU, False)
    arch = ArchSpec.from_hf_config(built.model.get_base_model().config)
    ts = resolve_trainable(built.model, built.method, cfg.lora.r)
    assert ts.block_targets == config_block_targets(arch, cfg.lora.target_modules)
    assert not ts.head and not ts.embeddings
    n_adapter = lora_numel(built.model)
    assert ts.trainable_params == n_adapter                      # nothing else trains
    # an adapter on (in -> out) holds r·(in+out) weights and costs 2·r·(in+out) FLOPs per token forward
    assert adapter_forward_flops_per_token(arch, cfg.lora.r, ts.block_targets) == 2 * n_adapter
    plan_in = PlanInput(arch=arch, method="lora", lora_r=cfg.lora.r,
                        lora_targets=targets if isinstance(targets, str) else tuple(targets))
    assert lora_params(plan_in) == n_adapter


def test_full_fine_tune_trains_head_and_embeddings():
    cfg = load_config("smoke/tiny_full.yaml")
    built = build_model(cfg.model, cfg.lora, cfg.quant, torch.float32, CPU, False)
    ts = resolve_trainable(built.model, built.method)
    assert (ts.method, ts.block_targets, ts.head, ts.embeddings) == ("full", (), True, True)
    assert ts.trainable_params == sum(p.numel() for p in built.model.parameters())


@pytest.mark.parametrize("targets,refused", [("[q_proj,lm_head]", "lm_head"),
                                             ("[q_proj, embed_tokens]", "embed_tokens"),
                                             ("[q_proj, model.embed_tokens]", "model.embed_tokens"),
                                             ("[out_proj, wte]", "wte")])
def test_head_and_embedding_targets_refused_at_validation(targets, refused, capsys, tmp_path):
    with pytest.raises(ConfigError, match="chunked loss reads the head weight"):
        load_config("smoke/tiny_lora.yaml", [f"lora.target_modules={targets}"])
    # through the CLI: exit 2 before any model or data loads, the reason and the offending name said
    code = main(["run", "sft", "--config", "smoke/tiny_lora.yaml", f"lora.target_modules={targets}",
                 f"output.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and refused in err and "chunked loss" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())                          # no run directory was made


def exaone_named(model):
    """A tiny Llama renamed to EXAONE 3.x custom-code module names (attention out_proj, MLP c_fc_0 /
    c_fc_1 / c_proj, model_type exaone): what peft sees when it wraps the real EXAONE."""
    base = model
    base.config.model_type = "exaone"
    for layer in base.model.layers:
        for old, new, parent in [("o_proj", "out_proj", layer.self_attn), ("gate_proj", "c_fc_0", layer.mlp),
                                 ("up_proj", "c_fc_1", layer.mlp), ("down_proj", "c_proj", layer.mlp)]:
            setattr(parent, new, getattr(parent, old))
            delattr(parent, old)
    return base


def test_exaone_names_map_the_same_way_for_planner_and_meter():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from trainers.models.model_loading import resolve_model_source
    names = ["q_proj", "out_proj", "c_fc_0", "c_fc_1", "c_proj"]
    model = exaone_named(AutoModelForCausalLM.from_pretrained(resolve_model_source("tiny:llama")[0]))
    wrapped = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=names, task_type="CAUSAL_LM"))
    ts = resolve_trainable(wrapped, "lora", 4)
    arch = ArchSpec.from_hf_config(model.config)
    assert ts.block_targets == config_block_targets(arch, names) == \
        ("q_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    # the meter's count (which used to raise on 'out_proj') and the planner's agree with the model
    n_adapter = lora_numel(wrapped)
    assert adapter_forward_flops_per_token(arch, 4, ts.block_targets) == 2 * n_adapter
    assert train_flops_per_token(arch, 64, "lora", 4, ts.block_targets).adapter == 6 * n_adapter
    real = load_arch("exaone-3.5-2.4b")
    assert lora_params(PlanInput(arch=real, lora_r=8, lora_targets=tuple(names))) == \
        8 * real.num_layers * sum(sum(real.linear_shapes()[t]) for t in ts.block_targets)
    with pytest.raises(UserError, match="not linear layers"):
        config_block_targets(real, ["c_attn"])
