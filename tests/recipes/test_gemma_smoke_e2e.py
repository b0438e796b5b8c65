"""A Gemma 3 config through the real CLI with --smoke: the packaged name maps to tiny:gemma3 (head_dim
≠ hidden/heads, sliding windows, tied), which trains with LoRA and QLoRA in the Gemma turn format.
Nothing real is loaded or converted: --smoke swaps the model before any source is resolved.

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_gemma_smoke_e2e.py -q
"""
import json
import math
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli
from trainers.compute.flops import train_flops_per_token
from trainers.models.arch_spec import ArchSpec

ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.mark.parametrize("config,method", [("smoke/tiny_lora.yaml", "lora"), ("smoke/tiny_qlora.yaml", "qlora")])
def test_gemma_config_smoke_trains_tiny_gemma3(tmp_path, config, method):
    proc = run_cli(["run", "sft", "--config", config, "--smoke", "model.path=gemma-3-270m",
                    f"lora.target_modules={json.dumps(ALL)}", "train.max_steps=4", "data.max_seq_len=96",
                    f"output.dir={tmp_path}", "output.name=g"], cwd=tmp_path,
                   env_extra={"KDTUNE_MODEL_CACHE": str(tmp_path / "no-conversion-here")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "g"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method"] == method and manifest["chat_format"] == "gemma"
    assert manifest["model_provenance"] is None                      # a tiny random model, not a package
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["path"] == "tiny:gemma3"
    assert not (tmp_path / "no-conversion-here").exists()            # the real model was never touched
    losses = [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == sorted(ALL)
    # the meter priced the Gemma shape: head_dim 32, five of six layers capped at the 16-token window
    arch = ArchSpec.from_hf_config(json.loads((Path(manifest["model_source"]) / "config.json").read_text()))
    assert (arch.head_dim, arch.sliding_window, arch.sliding_layers) == (32, 16, 5)
    compute = json.loads((run / "compute.json").read_text())
    t = compute["seq_len_mean"]
    assert t > 16
    assert compute["flops_per_token"]["attention"] == 3 * 4 * 4 * 32 * (t + 5 * 16)   # 12·H·Q·Σ keys
    assert compute["flops_per_token"]["total"] == train_flops_per_token(arch, t, method, 8, ALL).total
