"""Classification eval end to end through the CLI, as the issue's checks call it:

    kdtune run eval --config configs/eval/cls_<domain>.yaml run=<run dir> data.path=<JSONL>

on a tiny LoRA run trained on the classification chats, and the same config on a base model
without a run (zero-shot and k-shot). Counts add up to n; the accuracy printed is the one written.
"""
import json
from pathlib import Path

import pytest

from data_tools.cls_tasks import get_task, read_records, training_chat
from recipes.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "recipes" / "fixtures" / "cls_finance_small.jsonl"   # 2 rows per label
CFG = "eval/cls_finance.yaml"
N = 16


def cli(args: list) -> int:
    return main([str(a) for a in args])


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check_report(ev: dict, n: int) -> None:
    assert ev["n"] == n and ev["accuracy"] == pytest.approx(ev["correct"] / n)
    lo, hi = ev["ci95"]
    assert 0.0 <= lo <= ev["accuracy"] <= hi <= 1.0
    m = ev["confusion"]["matrix"]
    assert sum(map(sum, m)) == n and sum(m[j][j] for j in range(8)) == ev["correct"]
    assert [sum(row) for row in m] == [2] * 8                        # the fixture's supports
    assert sum(row[8] for row in m) == ev["missing"]                 # answers that are no label
    assert sum(s["n"] for s in ev["per_category"].values()) == n     # per-label recall intervals
    assert ev["compute"]["total_flops"] > 0 and ev["per_query"]["gflops"] > 0


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory):
    """A tiny LoRA run trained (briefly) on the classification chats: the prompt eval will use."""
    out = tmp_path_factory.mktemp("cls")
    task = get_task("finance")
    chats = out / "train.jsonl"
    chats.write_text("".join(json.dumps({"messages": training_chat(r, task)}, ensure_ascii=False) + "\n"
                             for r in read_records(FIXTURE, task)), encoding="utf-8")
    assert cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", f"data.path={chats}", "data.eval_fraction=0",
                "train.max_steps=3", "train.lr=3e-2", "train.save_every=0", f"output.dir={out}", "output.name=r"]) == 0
    return out / "r"


def test_eval_of_a_run_writes_accuracy_into_the_run_dir(cls_run, tmp_path, capsys):
    capsys.readouterr()
    assert cli(["run", "eval", "--config", CFG, f"run={cls_run}", f"data.path={FIXTURE}",
                "classify.keep_outputs=16"]) == 0
    printed = capsys.readouterr().out
    ev = read(cls_run / "eval.json")
    check_report(ev, N)
    assert f"accuracy={ev['accuracy']:.3f}" in printed
    assert ev["chat_format"] == read(cls_run / "manifest.json")["chat_format"] == "r1"
    assert ev["evaluated"]["adapter"].endswith("adapter") and ev["missing"] == 0     # constrained
    assert (cls_run / "eval_confusion.md").read_text(encoding="utf-8").count(" | ") > 80
    assert (cls_run / "eval_confusion.png").stat().st_size > 5000
    assert read(cls_run / "compute.json")["phase"] == "train"         # the training bill is kept

    # the same config on the untrained base model, without a run: a new eval-only run directory
    assert cli(["run", "eval", "--config", CFG, "model.path=tiny:qwen2", f"data.path={FIXTURE}",
                "classify.keep_outputs=16", f"output.dir={tmp_path}", "output.name=base"]) == 0
    base = read(tmp_path / "base" / "eval.json")
    check_report(base, N)
    assert read(tmp_path / "base" / "compute.json")["phase"] == "eval"
    assert base["evaluated"] == {"model": "tiny:qwen2", "adapter": None}
    # the adapter changes the label scores
    s_run = [v for e in ev["examples"] for v in e["scores"]]
    s_base = [v for e in base["examples"] for v in e["scores"]]
    assert len(s_run) == len(s_base) == 8 * N and max(abs(a - b) for a, b in zip(s_run, s_base)) > 1e-3


def test_k_shot_generate_on_the_base_model_and_a_second_report(cls_run, capsys):
    assert cli(["run", "eval", "--config", CFG, f"run={cls_run}", f"data.path={FIXTURE}", "classify.k_shot=3",
                f"data.shots_path={FIXTURE}", "classify.scoring=generate", "classify.report=gen3",
                "classify.keep_outputs=16"]) == 0
    ev = read(cls_run / "gen3.json")
    check_report(ev, N)
    assert ev["scoring"] == "generate" and ev["normalise"] is None
    assert all(e["shots"] == 3 and "answer" in e for e in ev["examples"])
    assert (cls_run / "gen3_confusion.png").is_file() and (cls_run / "gen3_config.yaml").is_file()


def test_bad_inputs_are_one_paragraph_errors(tmp_path, capsys):
    base = ["run", "eval", "--config", CFG, "model.path=tiny:qwen2", f"output.dir={tmp_path}"]
    capsys.readouterr()
    assert cli(base + ["classify.k_shots=2"]) == 2
    assert "did you mean 'classify.k_shot'" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "카드 분실", "label": "카드분실"}\n', encoding="utf-8")
    assert cli(base + [f"data.path={bad}"]) == 2
    assert "bad.jsonl:1: label '카드분실'" in capsys.readouterr().err
    assert cli(base + ["eval.dataset=builtin:mcqa/finance"]) == 2
    assert "exactly one of `eval:`" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()) or [p.name for p in tmp_path.iterdir()] == ["bad.jsonl"]
