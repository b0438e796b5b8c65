"""Merged exports are written in the training dtype (bf16 on CPU for real models), or as asked."""
import pytest
import torch
from safetensors import safe_open

from tests.helpers import run_cli
from trainers.config.sections import ModelSection
from trainers.export import merge_dtype

REAL = ModelSection(path="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
TINY = ModelSection(path="tiny:qwen2")


@pytest.mark.parametrize("requested,model,compute,expected", [
    ("auto", REAL, torch.float32, torch.bfloat16),    # CPU training: not a 30 GB fp32 7B
    ("auto", TINY, torch.float32, torch.float32),     # smoke models keep exact fp32 comparisons
    ("auto", REAL, torch.float16, torch.float16),     # T4: the training dtype
    ("auto", TINY, torch.bfloat16, torch.bfloat16),
    ("fp32", REAL, torch.bfloat16, torch.float32),    # asked for explicitly
    ("fp16", TINY, torch.float32, torch.float16),
])
def test_rule(requested, model, compute, expected):
    assert merge_dtype(requested, model, compute) == expected


def test_merged_weights_are_written_in_the_asked_dtype_and_match_the_adapter(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from trainers.models.model_loading import resolve_model_source
    proc = run_cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=3", "train.lr=2e-2",
                    "output.merge=true", "output.merge_dtype=bf16", f"output.dir={tmp_path}", "output.name=m",
                    "data.max_seq_len=128", "eval.max_batches=1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with safe_open(str(tmp_path / "m" / "merged" / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"BF16"}
    base_dir, _ = resolve_model_source("tiny:qwen2")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32),
                                        str(tmp_path / "m" / "adapter")).eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "m" / "merged", dtype=torch.float32).eval()
    ids = torch.randint(0, merged.config.vocab_size, (1, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, m = adapted(input_ids=ids).logits, merged(input_ids=ids).logits
    # bf16 weights: 8 mantissa bits, relative error ~2^-8 per weight; the logits stay close
    assert (a - m).abs().max() < 0.05 * a.abs().max()
