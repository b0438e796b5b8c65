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
    # a config that names its chat format (as the Gemma CPU configs do: plain): the peers must be
    # given that format's tokens, not the tokenizer's detected one
    import yaml
    from trainers.config.loader import load_raw, resolve_config_path
    raw = load_raw(resolve_config_path("smoke/tiny_lora.yaml"), {})
    raw.pop("base", None)
    raw.setdefault("model", {})["chat_format"] = "plain"
    config = tmp_path / "plain_lora.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--kdtune-config", str(config),
                           "--steps", "2", "--threads", "1", "--arms", arms,
                           "--no-eval", "--workdir", str(tmp_path / "w"), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())["results"]
    assert res["kdtune"]["tokens"] == res["hf_peft"]["tokens"] > 0      # same sequences, same order, same format
    first = {a: r["losses"][0] for a, r in res.items()}
    assert first["kdtune"] == pytest.approx(first["hf_peft"], rel=1e-2)
    if "trl" in res:
        assert res["trl"]["tokens"] == res["kdtune"]["tokens"]
    for r in res.values():
        assert r["peak_rss_mib"] > 100 and r["tokens_per_s"] > 0
        # per-step clocks: one entry a step, step tokens add up to the total (the median-step rate
        # is the noise-robust speed figure)
        assert len(r["step_seconds"]) == len(r["step_tokens"]) == 2 and sum(r["step_tokens"]) == r["tokens"]
        assert r["median_step_tokens_per_s"] == pytest.approx(r["step_tokens"][1] / r["step_seconds"][1])
    assert "| kdtune |" in proc.stdout
    assert json.loads(out.read_text())["settings"]["chat_format"] == "plain"


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None
