"""benchmarks/distill_memory.py on CPU (--tiny): the three steps run, and the chunked on-the-fly KD
sum equals the naive full-logit KD sum on the same (NF4) teacher and tokens."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "distill_memory.py"


def test_tiny_run_agrees_with_naive_kd():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--seq", "64", "--chunk", "16"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULTS "))
    rows = {r["mode"]: r for r in json.loads(line[len("RESULTS "):])}
    assert list(rows) == ["cached", "on-the-fly", "naive"]
    assert rows["on-the-fly"]["kd"] == pytest.approx(rows["naive"]["kd"], rel=1e-4)
