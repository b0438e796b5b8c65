"""Run records that cannot lie, through the real CLI: one run per directory (two concurrent runs with
one output.name: one completes, the other exits 2), resume refuses a changed config but allows (and
records) safe changes, a finished run is never retrained, and a run that fails before its first
step leaves nothing behind."""
import json
import os
import subprocess
import sys

import yaml

from recipes.cli import main
from tests.helpers import kill_after_first_checkpoint, run_cli

COMMON = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "data.max_seq_len=128", "eval.max_batches=2"]


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def history(run) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_two_concurrent_runs_with_one_name_one_completes_the_other_exits_2(tmp_path):
    args = COMMON + ["train.max_steps=6", "train.save_every=2", f"output.dir={tmp_path}", "output.name=same"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "recipes.cli", *args], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], [e[-2000:] for e in errs]
    loser = errs[codes.index(2)]
    assert str(tmp_path / "same") in loser and "Traceback" not in loser
    rows = metrics(tmp_path / "same")
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5, 6]   # the winner's lines, once each
    assert len([r for r in rows if "eval_loss" in r]) == 1
    assert [h["event"] for h in history(tmp_path / "same")] == ["start"]
    assert json.loads((tmp_path / "same" / "manifest.json").read_text())["result"]["steps"] == 6


def test_resume_refuses_a_changed_config_records_safe_changes_and_never_retrains(tmp_path):
    args = COMMON + ["train.save_every=2", "train.lr=1e-2", f"output.dir={tmp_path}", "output.name=k"]
    run = tmp_path / "k"
    kill_after_first_checkpoint(args + ["train.max_steps=12"], tmp_path, run)
    before = {f: (run / f).read_bytes() for f in ("config.yaml", "metrics.jsonl", "history.jsonl")}

    changed = run_cli(args + ["train.max_steps=12", "train.resume=auto", "train.lr=0.1",
                              "data.path=builtin:healthcare"], cwd=tmp_path)
    assert changed.returncode == 2, changed.stderr[-2000:]
    assert "train.lr: 0.01 -> 0.1" in changed.stderr and "data.path: 'builtin:finance'" in changed.stderr
    assert "Traceback" not in changed.stderr
    assert {f: (run / f).read_bytes() for f in before} == before   # the refused resume wrote nothing

    longer = run_cli(args + ["train.max_steps=14", "train.resume=auto"], cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr[-3000:]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["result"]["steps"] == 14 and manifest["result"]["resumed_from"] >= 2
    assert [r["step"] for r in metrics(run) if "loss" in r] == list(range(1, 15))
    resume = [h for h in history(run) if h["event"] == "resume"]
    assert len(resume) == 1 and resume[0]["changed"] == {"train.max_steps": [12, 14]}
    assert resume[0]["step"] == manifest["result"]["resumed_from"]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["max_steps"] == 14

    finished = {f: (run / f).read_bytes() for f in ("manifest.json", "metrics.jsonl", "compute.json")}
    again = run_cli(args + ["train.max_steps=14", "train.resume=auto"], cwd=tmp_path)
    assert again.returncode == 2 and "finished" in again.stderr and str(run) in again.stderr
    assert {f: (run / f).read_bytes() for f in finished} == finished


def test_a_run_that_fails_before_its_first_step_leaves_nothing_behind(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(COMMON + ["lora.target_modules=[nope_proj]", f"output.dir={runs}", "output.name=again"])
    assert code == 2 and "nope_proj" in capsys.readouterr().err
    assert list(runs.iterdir()) == []
    # the name is free again: the next run with the same output.name starts normally
    code = main(COMMON + ["train.max_steps=1", f"output.dir={runs}", "output.name=again"])
    assert code == 0 and (runs / "again" / "manifest.json").is_file()
