"""The classification bench end to end on tiny Gemma 3 (configs/bench/tiny_cls.yaml, the arms of
configs/bench/cls_<domain>.yaml): every arm finishes; the KD student's training compute includes its
teacher (the lora-r8 arm's fine-tuning, carried from its compute.json, plus the live teacher's
forwards); the cut student is cheaper per query than the full model; the report shows inference
cost and plots accuracy against it. Config rules (eval_overrides checked at load) are tested alone."""
import json
from pathlib import Path

import pytest

from recipes.cli import main
from trainers.config.loader import load_config
from trainers.errors import UserError

PNG = b"\x89PNG\r\n\x1a\n"


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_tiny_cls_bench_end_to_end(tmp_path):
    assert main(["run", "bench", "--config", "bench/tiny_cls.yaml", f"output.dir={tmp_path}",
                 "output.name=b"]) in (0, None)
    bench = tmp_path / "b"
    record = read(bench / "bench.json")
    names = ["base-0shot", "base-4shot", "lora-r8", "lora-r32", "qlora-r8", "full", "student-sft", "student-kd"]
    assert [a["name"] for a in record["arms"]] == names
    assert all(a["status"] == "ok" for a in record["arms"]), [(a["name"], a.get("error")) for a in record["arms"]]
    evals = {n: read(bench / n / "eval.json") for n in names}
    assert evals["base-0shot"]["k_shot"] == 0 and evals["base-4shot"]["k_shot"] == 4   # eval_overrides applied
    assert all(ev["n"] == 16 and ev["task"] == "finance" for ev in evals.values())

    # KD student: its total = own work (live teacher forwards inside) + the teacher's fine-tuning
    kd, teacher = read(bench / "student-kd" / "compute.json"), read(bench / "lora-r8" / "compute.json")
    assert kd["teacher_flops"] > 0 and kd["teacher_flops"] < kd["total_flops"]
    [source] = kd["teacher"]["sources"]
    assert Path(source["path"]) == (bench / "lora-r8").resolve() and source["total_flops"] == teacher["total_flops"]
    assert kd["totals"]["pflops"] == pytest.approx(kd["pflops"] + teacher["total_flops"] / 1e15, rel=1e-9)
    # SFT student: no live teacher, but it starts from lora-r8's merged model, so that fine-tuning is
    # carried; the KD student starts from the same model and is charged for that run once, not twice
    sft = read(bench / "student-sft" / "compute.json")
    [init] = sft["teacher"]["sources"]
    assert sft["teacher_flops"] == 0 and Path(init["path"]) == (bench / "lora-r8").resolve()
    assert sft["totals"]["pflops"] == pytest.approx(sft["pflops"] + teacher["total_flops"] / 1e15, rel=1e-9)
    assert sft["tokens"] == kd["tokens"]          # same data and steps: the control differs only by KD

    # the cut student (2 of 6 layers) serves a query for less than the full model
    gflops = {n: ev["per_query"]["gflops"] for n, ev in evals.items()}
    assert gflops["student-sft"] == pytest.approx(gflops["student-kd"]) and gflops["student-sft"] < gflops["full"]
    assert gflops["full"] == pytest.approx(gflops["base-0shot"])   # same architecture, same prompts
    assert gflops["base-4shot"] > gflops["base-0shot"]              # four shots lengthen every prompt

    report = read(bench / "report.json")
    rows = {a["name"]: a for a in report["arms"]}
    assert rows["student-kd"]["pflops"] == pytest.approx(kd["totals"]["pflops"])
    assert rows["student-kd"]["teacher_pflops"] == pytest.approx(
        kd["teacher_flops"] / 1e15 + teacher["total_flops"] / 1e15)
    assert rows["student-sft"]["inference_gflops"] == pytest.approx(gflops["student-sft"])
    assert "student-sft" in report["pareto_inference"] and "full" not in report["pareto_inference"]
    md = (bench / "report.md").read_text(encoding="utf-8")
    assert "inference GFLOPs/query" in md and "latency s/query" in md
    line = next(l for l in md.splitlines() if l.startswith("| ") and "| student-kd |" in l)
    assert f"({rows['student-kd']['teacher_pflops']:.3g})" in line
    png = bench / "accuracy_vs_inference_gflops.png"
    assert png.read_bytes()[:8] == PNG and "accuracy_vs_inference_gflops.png" in md

    # item-by-item comparisons (compare: in the config): counts from each arm's per-item predictions
    assert [(r["a"], r["b"]) for r in report["paired"]] == [("student-kd", "student-sft"), ("full", "lora-r8"),
                                                             ("lora-r8", "qlora-r8")]
    for r in report["paired"]:
        right = {n: [p["predicted"] == p["gold"] for p in evals[n]["predictions"]] for n in (r["a"], r["b"])}
        assert r["n"] == 16 and len(right[r["a"]]) == 16
        assert r["only_a"] == sum(x and not y for x, y in zip(right[r["a"]], right[r["b"]]))
        assert r["only_b"] == sum(y and not x for x, y in zip(right[r["a"]], right[r["b"]]))
        assert r["both_right"] + r["only_a"] == evals[r["a"]]["correct"]
        assert 0.0 < r["p_exact_mcnemar"] <= 1.0 and r["verdict"]
    assert "Paired on the same items" in md and "| student-kd vs student-sft | 16 |" in md


def write_bench(tmp_path: Path, arm_extra: str) -> Path:
    cfg = tmp_path / "b.yaml"
    cfg.write_text("recipe: bench\ntrain_config: bench/tiny_cls_train.yaml\nclassify: {task: finance}\n"
                   "data: {path: builtin:cls/finance}\narms:\n  - name: base\n    base_only: true\n"
                   f"    {arm_extra}\n", encoding="utf-8")
    return cfg


def test_eval_overrides_are_checked_when_the_bench_loads(tmp_path):
    cfg = load_config(write_bench(tmp_path, "eval_overrides: {classify.k_shot: 4, data.n: 8}"))
    from trainers.config.bench import eval_settings
    sections = eval_settings(cfg, cfg.arms[0])
    assert sections["classify"].k_shot == 4 and sections["data"].n == 8 and cfg.classify.k_shot == 0
    with pytest.raises(UserError, match=r"classify\.k_shots.*did you mean 'classify\.k_shot'"):
        load_config(write_bench(tmp_path, "eval_overrides: {classify.k_shots: 4}"))
    with pytest.raises(UserError, match=r"classify\.k_shot"):          # out of range (le=16)
        load_config(write_bench(tmp_path, "eval_overrides: {classify.k_shot: 99}"))
    with pytest.raises(UserError, match=r"only this bench's benchmark sections \(classify, data\); got eval"):
        load_config(write_bench(tmp_path, "eval_overrides: {eval.k_shot: 4}"))


def test_bench_needs_exactly_one_benchmark(tmp_path):
    cfg = tmp_path / "b.yaml"
    cfg.write_text("recipe: bench\ntrain_config: bench/tiny_cls_train.yaml\nclassify: {task: finance}\n"
                   "arms: [{name: base, base_only: true}]\n", encoding="utf-8")
    with pytest.raises(UserError, match="needs `data:`"):
        load_config(cfg)
    cfg.write_text("recipe: bench\ntrain_config: bench/tiny_cls_train.yaml\neval: {dataset: 'synth:finance'}\n"
                   "classify: {task: finance}\ndata: {path: builtin:cls/finance}\n"
                   "arms: [{name: base, base_only: true}]\n", encoding="utf-8")
    with pytest.raises(UserError, match="exactly one of"):
        load_config(cfg)


def test_compare_names_arms_of_the_bench(tmp_path):
    extra = "eval_overrides: {}\n  - name: other\n    base_only: true\ncompare: [[base, othr]]"
    with pytest.raises(UserError, match=r"compare: no arm named 'othr' \(did you mean 'other'\?\)"):
        load_config(write_bench(tmp_path, extra))
    with pytest.raises(UserError, match="compares an arm with itself"):
        load_config(write_bench(tmp_path, extra.replace("[[base, othr]]", "[[base, base]]")))
    assert load_config(write_bench(tmp_path, extra.replace("othr", "other"))).compare == [("base", "other")]
