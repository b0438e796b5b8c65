"""benchmarks/memory_throughput.py end to end on CPU (--tiny): one case plus the auto-fit run.

The GPU figures need a GPU; this only proves the script runs top to bottom -- both training paths,
the planner, the table, the checks and the JSON -- so a GPU session can trust the one command.

Run: OMP_NUM_THREADS=1 python -m pytest tests/benchmarks/test_memory_throughput_tiny.py -q
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "memory_throughput.py"
CASE = "tiny-1.5b-qlora-seq128-mb1"


def test_tiny_run_prints_table_and_writes_results(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--steps", "1", "--warmup", "0",
                           "--cases", CASE, "--auto-fit-8gb", "--weights-dir", str(tmp_path / "w"),
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| case | RSS high-water GiB kdtune / baseline | tokens/s kdtune / baseline")
    assert [r.split("|")[1].strip() for r in rows[1:]] == [CASE]   # exactly the selected case
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert len(cells) == 6 and "—" not in cells and "OOM" not in rows[1]
    assert "auto-fit" in proc.stdout and "trained without OOM" in proc.stdout
    # A CPU run measures no device memory, so every GPU acceptance figure reads "not run".
    assert proc.stdout.count("[not run]") == 7

    report = json.loads(out.read_text())
    assert report["meta"]["tiny"] is True and list(report["cases"]) == [CASE]
    r = report["cases"][CASE]
    for path in ("kdtune", "baseline"):
        assert r[path]["oom"] is False and r[path]["tokens_per_s"] > 0 and 0 < r[path]["mfu"] < 1
        assert r["predicted"][path]["peak_allocated_gib"] > 0
    # full fp32 logits and fp32-upcast embeddings/head: the planner must expect the baseline to need more
    assert r["predicted"]["baseline"]["peak_allocated_gib"] > r["predicted"]["kdtune"]["peak_allocated_gib"]
    fit = report["auto_fit_8gb"]
    assert fit["status"] == "trained without OOM" and fit["cap_enforced"] is False
    assert fit["micro_batch"] * fit["grad_accum"] == 16   # the recipe's global batch, kept by auto_fit
