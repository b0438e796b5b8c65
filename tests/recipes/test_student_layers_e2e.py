"""A student cut from its base (model.keep_layers) trains, saves and is evaluated as the model it is:
full fine-tuning saves the shrunk model whole; a LoRA student's base is cut again on reload."""
import json
from pathlib import Path

from recipes.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "recipes" / "fixtures" / "cls_finance_small.jsonl"


def cli(args: list) -> int:
    return main([str(a) for a in args])


def test_full_and_lora_students_train_and_evaluate(tmp_path):
    common = [f"data.path={FIXTURE}", "data.task=finance", "data.eval_fraction=0", "train.max_steps=2",
              "train.save_every=0", f"output.dir={tmp_path}", "model.keep_layers=1"]
    assert cli(["run", "sft", "--config", "smoke/tiny_full.yaml", *common, "output.name=full"]) == 0
    saved = json.loads((tmp_path / "full" / "model" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 1
    assert cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", *common, "output.name=lora"]) == 0
    gflops = {}
    for name in ("full", "lora"):
        assert cli(["run", "eval", "--config", "eval/cls_finance.yaml", f"run={tmp_path / name}",
                    f"data.path={FIXTURE}", "model.path=tiny:qwen2"]) == 0, name
        ev = json.loads((tmp_path / name / "eval.json").read_text())
        assert ev["n"] == 16 and 0.0 <= ev["accuracy"] <= 1.0
        gflops[name] = ev["per_query"]["gflops"]
    # the uncut two-layer base, no adapter: both one-layer students must cost less per query (a LoRA
    # student whose base was not cut again on reload would cost more: two layers plus adapters)
    assert cli(["run", "eval", "--config", "eval/cls_finance.yaml", f"data.path={FIXTURE}",
                "model.path=tiny:qwen2", f"output.dir={tmp_path}", "output.name=base"]) == 0
    base = json.loads((tmp_path / "base" / "eval.json").read_text())["per_query"]["gflops"]
    assert gflops["full"] < base and gflops["lora"] < base, (gflops, base)
