"""`kdtune slurm`: the sbatch script passes `bash -n`, asks for what the run needs (nodes, GPUs, time,
SIGUSR1 before the limit, requeue, c10d rendezvous, train.resume=auto), and its body really runs
here with stand-ins for `srun` and `scontrol` on PATH: a tiny 1-node run, sent SIGUSR1 as SLURM's
--signal=B:USR1 would, checkpoints, exits 75 and requeues the job; the requeued job (same id)
continues that run to the end.

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_slurm_script.py -q
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import ROOT, run_cli

SRUN = """#!/bin/sh
# stand-in for srun on one node: drop srun's own options, run the task in its place
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
exec "$@"
"""
SCONTROL = """#!/bin/sh
# stand-in for scontrol: this machine is the job's only node; requeues are written down
case "$1" in
  show) echo 127.0.0.1 ;;
  requeue) echo "$2" >> "$REQUEUED" ;;
esac
"""


def slurm(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(["slurm", *args], cwd=tmp_path)


def test_two_node_script_asks_for_what_the_run_needs(tmp_path):
    proc = slurm(tmp_path, "--config", "smoke/tiny_lora.yaml", "--nodes", "2", "--gpus-per-node", "4",
                 "--time", "04:00:00", "--partition", "gpu", "--grace", "240", "train.max_steps=100")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --time=04:00:00", "#SBATCH --partition=gpu", "#SBATCH --signal=B:USR1@240",
                 "#SBATCH --requeue", "#SBATCH --output=%x-%j.log"):
        assert line in script.splitlines(), line
    for part in ("--nnodes=2 --nproc-per-node=4", "--rdzv-backend=c10d", '--rdzv-endpoint="$HEAD_NODE:$PORT"',
                 "--signals-to-handle=SIGTERM,SIGINT,SIGUSR1", "--shutdown-timeout=240",
                 f"run sft --config {ROOT / 'configs/smoke/tiny_lora.yaml'} train.max_steps=100",
                 'output.name="tiny_lora-$SLURM_JOB_ID" train.resume=auto', 'if [ "$status" = 75 ]',
                 'scontrol requeue "$SLURM_JOB_ID"', "scontrol show hostnames"):
        assert part in script, part
    (tmp_path / "job.sh").write_text(script)
    check = subprocess.run(["bash", "-n", str(tmp_path / "job.sh")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_inputs_the_script_cannot_honour_are_refused(tmp_path):
    base = ["--config", "smoke/tiny_lora.yaml", "--nodes", "1", "--gpus-per-node", "1"]
    for extra, message in ((["--time", "4h"], "is not a duration"),
                           (["--time", "00:03:00", "--grace", "300"], "shorter than --time"),
                           (["--time", "01:00:00", "output.name=x"], "sets train.resume=auto and output.name"),
                           (["--time", "01:00:00", "train.lr=abc"], "train.lr")):
        proc = slurm(tmp_path, *base, *extra)
        assert proc.returncode == 2 and message in proc.stderr, (extra, proc.stderr)


def test_script_body_runs_stops_on_usr1_requeues_and_the_requeued_job_finishes(tmp_path):
    runs = tmp_path / "runs"
    proc = slurm(tmp_path, "--config", "smoke/tiny_lora.yaml", "--nodes", "1", "--gpus-per-node", "1",
                 "--time", "00:30:00", "train.max_steps=12", "train.save_every=0", "data.max_seq_len=128",
                 "eval.max_batches=2", f"output.dir={runs}")
    assert proc.returncode == 0, proc.stderr
    job = tmp_path / "job.sh"
    job.write_text(proc.stdout)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    requeued = tmp_path / "requeued"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_JOB_ID="4242",
               SLURM_JOB_NODELIST="node001", SLURM_SUBMIT_DIR=str(tmp_path), REQUEUED=str(requeued),
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    run = runs / "tiny_lora-4242"

    first = subprocess.Popen(["bash", str(job)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while len((run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []) < 3:
        assert first.poll() is None, first.stdout.read()[-3000:]
        assert time.time() < deadline, "no training step before the deadline"
        time.sleep(0.05)
    first.send_signal(signal.SIGUSR1)   # what --signal=B:USR1@GRACE delivers to the batch shell
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 75, out[-3000:]
    assert "requeueing job 4242" in out and requeued.read_text().split() == ["4242"]
    stop = json.loads((run / "history.jsonl").read_text().splitlines()[-1])
    assert stop["event"] == "stopped" and stop["reason"] == "SIGUSR1" and 3 <= stop["step"] < 12
    assert not (run / "manifest.json").exists()

    again = subprocess.run(["bash", str(job)], cwd=tmp_path, env=dict(env, SLURM_RESTART_COUNT="1"),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert requeued.read_text().split() == ["4242"]   # finished: not requeued again
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["result"]["resumed_from"] == stop["step"] and manifest["result"]["steps"] == 12
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 13))   # each step once


def test_the_script_in_the_docs_is_what_kdtune_slurm_writes(tmp_path):
    proc = slurm(tmp_path, "--config", "finance/r1-distill-qwen-1.5b_qlora_8gb.yaml", "--nodes", "2",
                 "--gpus-per-node", "4", "--time", "04:00:00", "--partition", "gpu")
    assert proc.returncode == 0, proc.stderr
    written = proc.stdout.replace(sys.executable, "/home/lab/kdtune/.venv/bin/python").replace(
        str(ROOT), "/home/lab/kdtune")
    doc = (ROOT / "docs" / "clusters.md").read_text(encoding="utf-8")
    shown = re.search(r"```bash\n(#!/bin/bash\n.*?)```", doc, re.S)[1]
    assert shown == written
