"""benchmarks/cls_latency.py on two tiny runs (a full fine-tune and a 1-of-2-layer student): both models
score the same queries, each query once per model, and the student's FLOPs per query are what the
eval counts for it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recipes.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "recipes" / "fixtures" / "cls_finance_small.jsonl"


def test_latency_of_full_model_and_student_side_by_side(tmp_path):
    common = [f"data.path={FIXTURE}", "data.task=finance", "data.eval_fraction=0", "train.max_steps=1",
              "train.save_every=0", f"output.dir={tmp_path}"]
    assert main(["run", "sft", "--config", "smoke/tiny_full.yaml", *common, "output.name=full"]) == 0
    assert main(["run", "sft", "--config", "smoke/tiny_full.yaml", *common, "model.keep_layers=1",
                 "output.name=student"]) == 0
    out = tmp_path / "latency.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cls_latency.py"), "--runs",
                           str(tmp_path / "full"), str(tmp_path / "student"), "--data", str(FIXTURE), "--n", "4", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    full, student = res["models"]
    assert res["n"] == 4 and (full["layers"], student["layers"]) == (2, 1)
    assert all(m["median_s_per_query"] > 0 for m in res["models"])
    # GFLOPs per query are the eval's own count for the same prompts (kdtune run eval, data.n=4)
    for name, m in (("full", full), ("student", student)):
        assert main(["run", "eval", "--config", "eval/cls_finance.yaml", f"run={tmp_path / name}",
                     f"data.path={FIXTURE}", "data.n=4"]) == 0
        ev = json.loads((tmp_path / name / "eval.json").read_text())
        assert m["gflops_per_query"] == pytest.approx(ev["per_query"]["gflops"], rel=1e-9)
    assert res["gflops_ratio_b_over_a"] == pytest.approx(student["gflops_per_query"] / full["gflops_per_query"])
    assert res["gflops_ratio_b_over_a"] < 1
    assert "| " + str(tmp_path / "student") + " | 1 |" in proc.stdout
