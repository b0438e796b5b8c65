"""`kdtune plan` and `train.auto_fit` see everything on the device: the student, a live teacher (NF4
or not) or the KD cache's top-k targets; plan on traces, distill-cache, bench and eval configs answers
without a traceback; `train.auto_fit=true` runs for distill.

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_plan_teacher.py -q
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from recipes.cli import main
from trainers.compute.hardware import get_gpu
from trainers.compute.plan_memory import GIB, estimate_memory, nf4_bytes_per_param
from trainers.compute.planner import make_plan
from trainers.config.loader import load_config
from trainers.errors import UserError
from trainers.models.arch_catalog import load_arch
from trainers.plan_config import fit_to_gpu, plan_input_from_config

LOGIT_7B = "configs/finance/r1-distill-qwen-7b_to_1.5b_logit_16gb.yaml"
TRACES_7B = "configs/finance/r1-distill-qwen-7b_to_1.5b_traces_24gb.yaml"


def test_logit_config_counts_the_nf4_teacher(capsys):
    cfg = load_config(LOGIT_7B)
    gpu = get_gpu("rtx4060-8gb")
    inp = plan_input_from_config(cfg, gpu)
    r7 = load_arch("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert inp.teacher == r7 and inp.teacher_quant == "nf4" and inp.kd_chunk_size == cfg.kd.chunk_size
    items = {label: b for label, _, b in estimate_memory(inp).items}
    linear = r7.num_layers * sum(i * o for i, o in r7.linear_shapes().values())
    assert items["teacher weights (nf4)"] == pytest.approx(
        linear * nf4_bytes_per_param() + (r7.param_count() - linear) * 2)            # ~5.2 GiB
    student_only = make_plan(dataclasses.replace(inp, teacher=None, teacher_quant="none"), gpu)
    with_teacher = make_plan(inp, gpu)
    assert student_only.fits and not with_teacher.fits      # the old answer "fits at 5.4 GiB" was the student alone
    assert with_teacher.peak_gib - student_only.peak_gib > items["teacher weights (nf4)"] / GIB
    assert main(["plan", "--config", LOGIT_7B, "--gpu", "rtx4060-8gb"]) == 1
    out = capsys.readouterr().out
    assert "teacher weights (nf4)" in out and "DOES NOT FIT" in out
    assert f"{with_teacher.peak_gib:.2f} / 8.00" in out


def test_unquantised_teacher_and_cache_are_planned():
    cfg = load_config(LOGIT_7B, ["kd.teacher.load_in_4bit=false"])
    inp = plan_input_from_config(cfg, get_gpu("a100-80gb"))
    labels = {label for label, _, _ in estimate_memory(inp).items}
    assert inp.teacher_quant == "none" and "teacher weights (bf16)" in labels
    cached = plan_input_from_config(load_config(LOGIT_7B, ["kd.cache_dir=/nonexistent/cache", "kd.topk=32"]),
                                    get_gpu("a100-80gb"))
    assert cached.teacher is None and cached.kd_cache_topk == 32      # no index yet: the configured k
    assert any(label == "cached top-32 targets" for label, _, _ in estimate_memory(cached).items)


def test_cache_k_is_read_from_an_existing_cache(tmp_path):
    (tmp_path / "index.json").write_text(json.dumps({"k": 48}))
    inp = plan_input_from_config(load_config(LOGIT_7B, [f"kd.cache_dir={tmp_path}"]), get_gpu("l4-24gb"))
    assert inp.kd_cache_topk == 48


def test_auto_fit_for_distill_counts_the_teacher():
    cfg = load_config(LOGIT_7B, ["train.auto_fit=true"])
    with pytest.raises(UserError, match="does not fit GeForce RTX 4060 8GB"):
        fit_to_gpu(cfg, get_gpu("rtx4060-8gb"), log=lambda _: None)
    logs = []
    fitted = fit_to_gpu(cfg, get_gpu("t4-16gb"), log=logs.append)
    assert fitted.train.micro_batch_size * fitted.train.grad_accum == 16           # global batch kept
    assert make_plan(plan_input_from_config(fitted, get_gpu("t4-16gb")), get_gpu("t4-16gb")).fits
    assert fitted.kd == cfg.kd and "auto_fit on t4-16gb" in logs[0]
    assert fit_to_gpu(load_config(LOGIT_7B), get_gpu("t4-16gb")) is not None       # auto_fit off: unchanged


def test_distill_run_with_auto_fit_on_cpu(tmp_path, capsys):
    """The distill recipe goes through prepare's auto-fit step (here: no GPU, settings kept and said so)."""
    code = main(["run", "distill", "train.auto_fit=true", "train.max_steps=2", "data.max_seq_len=96",
                 "data.max_examples=16", "eval.max_batches=1", f"output.dir={tmp_path}", "output.name=af"])
    out = capsys.readouterr().out
    assert code == 0 and "train.auto_fit: no GPU here" in out
    manifest = json.loads((tmp_path / "af" / "manifest.json").read_text())
    assert manifest["trainable"]["method"] == "lora" and manifest["kd"]["teacher"]


@pytest.mark.parametrize("config,expect", [
    (TRACES_7B, "nothing trains"), ("smoke/tiny_traces.yaml", "nothing trains"),
    ("smoke/tiny_distill_cache.yaml", "distill-cache: teacher"),
    ("bench/tiny.yaml", "kd-logit-r8"), ("bench/cls_finance.yaml", "student-kd")])
def test_plan_on_configs_with_nothing_to_train(config, expect, capsys):
    for gpu in ("l4-24gb", "all"):
        code = main(["plan", "--config", config, "--gpu", gpu])
        captured = capsys.readouterr()
        assert code == 0 and expect in captured.out and "Traceback" not in captured.err


def test_traces_plan_figures():
    from recipes.plan import inference_plan
    cfg = load_config(TRACES_7B)
    _, mem, total = inference_plan(cfg, get_gpu("l4-24gb"))
    items = {label.split(" (")[0]: b for label, _, b in mem.items}
    r7 = load_arch("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert items["weights"] == r7.param_count() * 2
    assert items["KV cache"] == 2 * r7.num_layers * r7.kv_dim * 2 * 16 * (1024 + 4096)   # ~4.4 GiB
    assert total > (items["weights"] + items["KV cache"]) / GIB


def test_plan_on_an_eval_config_says_why_not(capsys):
    assert main(["plan", "--config", "eval/cls_finance.yaml", "--gpu", "t4-16gb"]) == 2
    err = capsys.readouterr().err
    assert "trains nothing" in err and "Traceback" not in err
