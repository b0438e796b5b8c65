"""`kdtune export gguf --check` and `kdtune export card` on a real (tiny) LoRA run, as a user runs
them: the GGUF is written from the run's adapter merged into its base, both readers' figures land in
OUT.check.json and in the card, and the card's numbers are the run's own records."""
import json

import pytest

from recipes.cli import main

pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=2", "train.save_every=0",
                 f"output.dir={out}", "output.name=r"]) == 0
    return out / "r"


def test_export_gguf_with_check_and_card(tiny_run, tmp_path, capsys):
    out = tmp_path / "deliver" / "tiny.gguf"
    out.parent.mkdir()
    assert main(["export", "gguf", "--run", str(tiny_run), "--out", str(out), "--dtype", "q8_0", "--check"]) == 0
    printed = capsys.readouterr().out
    assert "adapter/ merged into its base" in printed and out.is_file()
    check = json.loads((out.parent / "tiny.gguf.check.json").read_text())
    t = check["transformers"]
    assert t["token_ids_identical"] and t["max_abs_dlogit"] < 8e-2 and t["positions"] > 50
    assert check["export"]["tensors_by_type"]["Q8_0"] > 0
    card = (out.parent / "README.md").read_text()
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    compute = json.loads((tiny_run / "compute.json").read_text())
    for section in ("## Base model and licence", "## Method", "## Data", "## Evaluation", "## Compute and cost",
                    "## Known limits", "## How to load"):
        assert section in card
    assert f"training examples {manifest['data']['train_examples']}" in card
    assert f"{compute['tokens']} tokens" in card and "LoRA: r=8" in card
    assert f"max |Δlogit| {t['max_abs_dlogit']:.4g}" in card            # the check's figure, not a copy
    assert 'gguf_file="tiny.gguf"' in card and "PeftModel.from_pretrained" in card   # adapter passed the vLLM check


def test_card_reports_eval_with_intervals(tiny_run, tmp_path):
    ev = {"dataset": "builtin:cls/finance", "description": "d", "n": 10, "accuracy": 0.7, "ci95": [0.397, 0.892],
          "chance": 0.125, "interval": "wilson", "per_category": {"대출": {"n": 4, "accuracy": 0.5, "ci95": [0.15, 0.85]}}}
    (tiny_run / "eval.json").write_text(json.dumps(ev, ensure_ascii=False))
    try:
        assert main(["export", "card", "--run", str(tiny_run), "--out", str(tmp_path / "c")]) == 0
    finally:
        (tiny_run / "eval.json").unlink()
    card = (tmp_path / "c" / "README.md").read_text()
    assert "| all | 10 | 70.0% | 39.7%–89.2% |" in card and "| 대출 | 4 | 50.0% | 15.0%–85.0% |" in card


@pytest.mark.parametrize("args, message", [
    (["export", "gguf", "--run", "{tmp}", "--out", "{tmp}/m.gguf"], "not a run directory"),
    (["export", "gguf", "--run", "{run}", "--out", "{tmp}/m.bin"], "ending in .gguf"),
    (["export", "card", "--run", "{tmp}", "--out", "{tmp}/c"], "not a finished run"),
])
def test_bad_input_is_one_paragraph_exit_2(tiny_run, tmp_path, capsys, args, message):
    assert main([a.format(tmp=tmp_path, run=tiny_run) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
