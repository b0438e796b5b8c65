"""benchmarks/vs_peers.py --tiny: every arm trains the same tokens. At step 1 the LoRA B matrices are
zero, so each arm's loss is the base model's loss on the same first batch (kdtune weighs tokens
over the step, the plain loop averages micro-batch means: equal within a percent here)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vs_peers.py"


def test_tiny_arms_train_the_same_tokens(tmp_path):
    arms = "kdtune,hf_peft" + (",trl" if _has("trl") else "")
    out = tmp_path / "vs.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--steps", "2", "--threads", "1", "--arms", arms,
                           "--no-eval", "--workdir", str(tmp_path / "w"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())["results"]
    assert res["kdtune"]["tokens"] == res["hf_peft"]["tokens"] > 0      # same sequences, same order
    first = {a: r["losses"][0] for a, r in res.items()}
    assert first["kdtune"] == pytest.approx(first["hf_peft"], rel=1e-2)
    if "trl" in res:
        assert res["trl"]["tokens"] == res["kdtune"]["tokens"]
    for r in res.values():
        assert r["peak_rss_mib"] > 100 and r["tokens_per_s"] > 0
    assert "| kdtune |" in proc.stdout


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None
