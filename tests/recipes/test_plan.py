"""`kdtune plan` and `apply_auto_fit` on the shipped configs (offline: catalogue architectures).

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_plan.py -q
"""
from __future__ import annotations

import pytest

from recipes.cli import main
from recipes.plan import apply_auto_fit, plan_input_from_config
from trainers.compute.hardware import CATALOGUE, get_gpu
from trainers.config.loader import load_config
from trainers.errors import UserError
from trainers.models.arch_catalog import load_arch

QLORA_15 = "configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml"
QLORA_7 = "configs/finance/r1-distill-qwen-7b_qlora_12gb.yaml"


def test_plan_prints_table_for_a_shipped_config(capsys):
    assert main(["plan", "--config", QLORA_15, "--gpu", "rtx4060-8gb"]) == 0
    out = capsys.readouterr().out
    assert "rtx4060-8gb" in out and "fits" in out and "NF4 linear layers" in out
    assert "seq 2048 × micro 1 × accum 16" in out


def test_overrides_reach_the_plan(capsys):
    assert main(["plan", "--config", QLORA_15, "--gpu", "l4-24gb", "train.micro_batch_size=4",
                 "data.max_seq_len=1024"]) == 0
    assert "seq 1024 × micro 4" in capsys.readouterr().out


def test_all_gpus_summary(capsys):
    assert main(["plan", "--config", QLORA_7, "--gpu", "all"]) == 0
    out = capsys.readouterr().out
    for gpu_id in CATALOGUE:
        assert gpu_id in out


def test_not_fitting_anywhere_exits_1_and_bad_gpu_exits_2(capsys):
    full_7b = ["lora.enabled=false", "quant.load_in_4bit=false"]
    assert main(["plan", "--config", QLORA_7, "--gpu", "rtx4060-8gb", *full_7b]) == 1
    assert "DOES NOT FIT" in capsys.readouterr().out
    assert main(["plan", "--config", QLORA_7, "--gpu", "voodoo2"]) == 2
    assert "unknown GPU" in capsys.readouterr().err


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["plan", "--help"])
    assert e.value.code == 0 and "--gpu" in capsys.readouterr().out


def test_config_maps_to_plan_input():
    cfg = load_config(QLORA_7)
    inp = plan_input_from_config(cfg, get_gpu("t4-16gb"))
    assert inp.arch == load_arch("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert (inp.method, inp.seq_len, inp.micro_batch, inp.grad_accum, inp.lora_r) == ("qlora", 2048, 1, 16, 16)
    assert inp.compute_dtype == "fp16"            # T4: no bf16
    assert inp.lora_targets == "all-linear" and inp.lora_dropout == cfg.lora.dropout
    assert inp.loss_chunk_size == cfg.train.loss_chunk_size
    bf16 = load_config(QLORA_7, ["train.precision=bf16"])
    with pytest.raises(UserError, match="no bf16"):
        plan_input_from_config(bf16, get_gpu("t4-16gb"))


def test_apply_auto_fit_keeps_global_batch():
    cfg = load_config(QLORA_7)
    logs: list[str] = []
    big = apply_auto_fit(cfg, get_gpu("rtx4090-24gb"), log=logs.append)
    assert big.train.micro_batch_size > 1
    assert big.train.micro_batch_size * big.train.grad_accum == 16
    assert big.data.max_seq_len == 2048
    assert cfg.train.micro_batch_size == 1 and cfg.train.grad_accum == 16   # input untouched
    assert "auto_fit on rtx4090-24gb" in logs[0]


def test_apply_auto_fit_on_8gb_lowers_loss_chunk_before_sequence():
    # Without LoRA dropout, 7B QLoRA at 2048 fits 8 GB once the loss chunk is small.
    cfg = load_config(QLORA_7, ["lora.dropout=0.0"])
    small = apply_auto_fit(cfg, get_gpu("rtx4060-8gb"), log=lambda _: None)
    assert small.train.loss_chunk_size == 256 and small.data.max_seq_len == 2048
    assert small.train.micro_batch_size == 1 and small.train.grad_accum == 16


def test_apply_auto_fit_on_8gb_shortens_sequence_when_it_must():
    # PEFT dropout keeps a dropped copy of each adapted input: 7B at 2048 no longer fits 8 GB.
    cfg = load_config(QLORA_7)
    logs: list[str] = []
    small = apply_auto_fit(cfg, get_gpu("rtx4060-8gb"), log=logs.append)
    assert small.data.max_seq_len == 1024
    assert small.train.micro_batch_size * small.train.grad_accum == 16
    assert any("truncated" in line for line in logs)


def test_apply_auto_fit_refuses_what_cannot_fit():
    cfg = load_config(QLORA_7, ["lora.enabled=false", "quant.load_in_4bit=false"])
    with pytest.raises(UserError, match="does not fit"):
        apply_auto_fit(cfg, get_gpu("rtx4060-8gb"), log=lambda _: None)
