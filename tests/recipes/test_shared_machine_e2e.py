"""Shared machines, through the real CLI: a run under umask 027 leaves every file it wrote readable by
its group and by no one else (safetensors alone would write 0600); a model read from a read-only
shared directory is never written to (as root, permissions do not stop a write, so the directory is
compared file by file: same names, bytes, modes and mtimes); `kdtune report --group-by user|config`
sums device-hours and won per user and per config, and the sums add up.

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_shared_machine_e2e.py -q
"""
import getpass
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli
from trainers.models.model_loading import resolve_model_source


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                       p.stat().st_mode, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """One tiny LoRA run (merged export, a mid-run checkpoint) under umask 027 from a read-only model."""
    tmp = tmp_path_factory.mktemp("shared")
    model = tmp / "shared-cache" / "qwen2-tiny"
    shutil.copytree(resolve_model_source("tiny:qwen2")[0], model)
    for p in [model, *model.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)   # chmod -R a-w
    before = snapshot(model)
    proc = subprocess.run(
        [sys.executable, "-m", "recipes.cli", "run", "sft", "--config", "smoke/tiny_lora.yaml", f"model.path={model}",
         "train.max_steps=4", "train.save_every=2", "output.merge=true", "data.max_seq_len=128",
         "eval.max_batches=2", f"output.dir={tmp / 'runs'}", "output.name=r"],
        cwd=tmp, capture_output=True, text=True, timeout=600, preexec_fn=lambda: os.umask(0o027),
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, model, before


def test_run_files_follow_the_umask_group_readable(shared_run):
    tmp, _, _ = shared_run
    modes = {str(p.relative_to(tmp)): oct(p.stat().st_mode & 0o777) for p in (tmp / "runs" / "r").rglob("*")
             if p.is_file()}
    assert "runs/r/adapter/adapter_model.safetensors" in modes and "runs/r/merged/model.safetensors" in modes
    assert any(k.endswith("trainable.safetensors") for k in modes)
    assert {k: v for k, v in modes.items() if v != "0o640"} == {}


def test_a_read_only_model_directory_is_read_not_written(shared_run):
    _, model, before = shared_run
    assert snapshot(model) == before


def _copy_run(src: Path, dest: Path, user: str | None, config: str | None, hours: float, krw: float | None):
    """A copy of a real run's records with its spending and owner set (the report reads only those)."""
    dest.mkdir(parents=True)
    compute = json.loads((src / "compute.json").read_text())
    compute.update(device_hours=hours, cost_krw=krw)
    (dest / "compute.json").write_text(json.dumps(compute))
    manifest = json.loads((src / "manifest.json").read_text())
    for key, value in (("user", user), ("config", config)):
        manifest.pop(key) if value is None else manifest.update({key: value})
    (dest / "manifest.json").write_text(json.dumps(manifest))
    (dest / "history.jsonl").write_text('{"event": "start"}\n')


def test_report_sums_spending_per_user_and_per_config(shared_run):
    tmp, _, _ = shared_run
    real = tmp / "runs" / "r"
    manifest = json.loads((real / "manifest.json").read_text())
    assert manifest["user"] == getpass.getuser() and manifest["config"] == "tiny_lora"
    lab = tmp / "lab"
    _copy_run(real, lab / "a1", "alice", "fin_qlora", 1.5, 2100.0)
    _copy_run(real, lab / "a2", "alice", "med_lora", 2.25, 3150.0)
    _copy_run(real, lab / "bench" / "arm-b", "bob", "fin_qlora", 0.5, None)     # nested (a bench arm), unpriced
    _copy_run(real, lab / "med_lora-20261101-120000", None, None, 0.75, 1050.0)  # older: no user/config
    (lab / "stopped").mkdir()
    (lab / "stopped" / "history.jsonl").write_text('{"event": "start"}\n')     # pre-empted: nothing recorded yet
    me = getpass.getuser()

    proc = run_cli(["report", str(lab), "--group-by", "user", "--out", str(tmp / "rep")], cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    by_user = json.loads((tmp / "rep" / "spending_by_user.json").read_text())
    rows = {g["user"]: g for g in by_user["groups"]}
    assert {u: (g["runs"], g["device_hours"], g["cost_krw"], g["unpriced_runs"], g["inferred"])
            for u, g in rows.items()} == {"alice": (2, 3.75, 5250.0, 0, 0), "bob": (1, 0.5, 0.0, 1, 0),
                                          me: (1, 0.75, 1050.0, 0, 1)}
    assert by_user["total"] == {"runs": 4, "device_hours": 5.0, "cost_krw": 6300.0}
    assert sum(g["device_hours"] for g in by_user["groups"]) == by_user["total"]["device_hours"]
    assert by_user["not_counted"] == [str(lab / "stopped")]
    assert "| alice | 2 | 3.7500 | 5,250 |" in proc.stdout

    proc = run_cli(["report", str(lab), "--group-by", "config"], cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert "| fin_qlora | 2 | 2.0000 | 2,100 | 1 |" in proc.stdout
    assert "| med_lora | 2 | 3.0000 | 4,200 | 0 | 1 |" in proc.stdout   # the older run's name gives its config
    assert "| **total** | 4 | 5.0000 | 6,300 |" in proc.stdout


def test_report_counts_a_run_stopped_before_its_end_up_to_its_last_checkpoint(shared_run):
    tmp, _, _ = shared_run
    real = tmp / "runs" / "r"
    start = json.loads((real / "history.jsonl").read_text().splitlines()[0])
    assert (start["event"], start["user"], start["config"]) == ("start", getpass.getuser(), "tiny_lora")
    # what each checkpoint says the run had spent by then, against the finished run's compute.json
    final = json.loads((real / "compute.json").read_text())
    states = sorted((real / "checkpoints").glob("step-*/state.json"))
    assert states, "the run kept no checkpoint"
    for path in states:
        state = json.loads(path.read_text())
        spent = state["spent"]
        assert spent["phase"] == "train" and 0 < spent["tokens"] <= final["tokens"]
        assert spent["tokens"] == state["meter"]["tokens"] and 0 < spent["device_hours"] <= final["device_hours"]

    lab = tmp / "lab-stopped"
    _copy_run(real, lab / "alice-done", "alice", "fin_qlora", 1.5, 2100.0)
    stopped = lab / "tiny_lora-20261129-101500"       # pre-empted, never continued: no compute.json
    shutil.copytree(real / "checkpoints", stopped / "checkpoints")
    shutil.copy(real / "history.jsonl", stopped / "history.jsonl")
    last = sorted((stopped / "checkpoints").glob("step-*/state.json"))[-1]
    state = json.loads(last.read_text())
    state["spent"].update(device_hours=0.4, cost_krw=560.0)
    last.write_text(json.dumps(state))
    (lab / "no-checkpoint").mkdir()
    (lab / "no-checkpoint" / "history.jsonl").write_text('{"event": "start"}\n')

    proc = run_cli(["report", str(lab), "--group-by", "user", "--out", str(tmp / "rep-stopped")], cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp / "rep-stopped" / "spending_by_user.json").read_text())
    rows = {g["user"]: g for g in report["groups"]}
    me = getpass.getuser()
    assert {u: (g["runs"], g["device_hours"], g["cost_krw"], g["inferred"], g["unfinished"])
            for u, g in rows.items()} == {"alice": (1, 1.5, 2100.0, 0, 0), me: (1, 0.4, 560.0, 0, 1)}
    assert report["total"] == {"runs": 2, "device_hours": 1.9, "cost_krw": 2660.0}
    assert report["not_counted"] == [str(lab / "no-checkpoint")]
    assert "counted up to their last checkpoint" in proc.stdout

    proc = run_cli(["report", str(lab), "--group-by", "config"], cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    assert "| tiny_lora | 1 | 0.4000 | 560 | 0 | 0 | 1 |" in proc.stdout   # config from the start event
