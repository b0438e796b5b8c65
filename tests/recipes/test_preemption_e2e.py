"""Pre-emption through the real CLI, with real signals: a run sent SIGTERM mid-run finishes its step,
writes a checkpoint, prints it and the command that continues, and exits 75; running that command
gives the uninterrupted run's per-step losses and compute.json tokens. With 2 processes (--nproc 2,
gloo) the signal reaches the workers through torchrun, and a signal that reaches one rank only
(rank 1, SIGUSR1) still stops both on the same step.

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_preemption_e2e.py -q
"""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from trainers.run.records import ComputeRecord

STEPS = 16
COMMON = ["run", "sft", "--config", "smoke/tiny_lora.yaml", f"train.max_steps={STEPS}", "train.save_every=0",
          "train.lr=1e-2", "lora.dropout=0.1", "data.max_seq_len=128", "eval.max_batches=2"]
ENV = {"OMP_NUM_THREADS": "1"}


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def worker_of_rank(parent: int, rank: int) -> int:
    """pid of the process under `parent` (kdtune -> torchrun -> workers) whose RANK is `rank`."""
    todo, seen = [parent], []
    while todo:
        pid = todo.pop()
        seen.append(pid)
        for task in Path(f"/proc/{pid}/task").iterdir():
            todo += [int(c) for c in (task / "children").read_text().split()]
    for pid in seen[1:]:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in env and b"LOCAL_RANK=" + str(rank).encode() in env:
            return pid
    raise AssertionError(f"no rank-{rank} worker under {parent}")


def signal_mid_run(args: list[str], cwd: Path, run_dir: Path, after_step: int, sig: int, rank: int | None = None):
    """Start `kdtune ARGS`; once `after_step` steps are logged send `sig` to kdtune itself (or only
    to the worker of `rank`) -> (exit status, stderr+stdout)."""
    proc = subprocess.Popen([sys.executable, "-m", "recipes.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1", **ENV))
    deadline = time.time() + 300
    while not (run_dir / "metrics.jsonl").is_file() or max(losses(run_dir), default=0) < after_step:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline, "no progress before the deadline"
        time.sleep(0.02)
    os.kill(proc.pid if rank is None else worker_of_rank(proc.pid, rank), sig)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def continue_from(output: str, cwd: Path, expect_step: int | None = None) -> list[str]:
    """Check the stop message; -> the printed command that continues, as arguments for recipes.cli."""
    stop = re.search(r"kdtune: stopped at step (\d+) of (\d+) \((\w+)\); checkpoint (\S+)", output)
    assert stop, output[-3000:]
    step, total, ckpt = int(stop[1]), int(stop[2]), Path(stop[4])
    assert total == STEPS and 1 <= step < STEPS and (expect_step is None or step == expect_step)
    assert ckpt.name == f"step-{step:07d}" and (ckpt / "state.json").is_file()
    assert not (ckpt.parent.parent / "manifest.json").exists()
    assert "kdtune: exit status 75 (stopped to be requeued)" in output
    command = shlex.split(re.search(r"kdtune: continue with: (.+)", output)[1])
    assert command[0] == "kdtune" and command[-1] == "train.resume=auto"
    return command[1:]


def check_equal_to_uninterrupted(full: Path, resumed: Path) -> float:
    a, b = losses(full), losses(resumed)
    assert sorted(a) == sorted(b) == list(range(1, STEPS + 1))
    diff = max(abs(a[s] - b[s]) for s in a)
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step
    ca, cb = (ComputeRecord.model_validate_json((r / "compute.json").read_text()) for r in (full, resumed))
    assert (cb.tokens, cb.target_tokens, cb.total_flops) == (ca.tokens, ca.target_tokens, ca.total_flops)
    print(f"max |loss diff| {diff:.2e}, tokens {ca.tokens} == {cb.tokens}")
    return diff


def test_sigterm_one_process(tmp_path):
    common = COMMON + [f"output.dir={tmp_path}"]
    full = run_cli(common + ["output.name=full"], cwd=tmp_path, env_extra=ENV)
    assert full.returncode == 0, full.stderr[-3000:]

    code, out = signal_mid_run(common + ["output.name=cut"], tmp_path, tmp_path / "cut", 3, signal.SIGTERM)
    assert code == 75, out[-3000:]
    again = continue_from(out, tmp_path)
    history = [json.loads(x) for x in (tmp_path / "cut" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["event"] == "stopped" and history[-1]["reason"] == "SIGTERM"

    resumed = run_cli(again, cwd=tmp_path, env_extra=ENV)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    check_equal_to_uninterrupted(tmp_path / "full", tmp_path / "cut")


def test_sigterm_and_a_one_rank_signal_with_two_processes(tmp_path):
    common = COMMON + ["--nproc", "2", f"output.dir={tmp_path}"]
    full = run_cli(common + ["output.name=full"], cwd=tmp_path, env_extra=ENV)
    assert full.returncode == 0, full.stderr[-3000:]
    cut = tmp_path / "cut"

    # SIGTERM to kdtune: passed to torchrun, by torchrun to both workers
    code, out = signal_mid_run(common + ["output.name=cut"], tmp_path, cut, 3, signal.SIGTERM)
    assert code == 75, out[-3000:]
    again = continue_from(out, tmp_path)
    assert "--nproc" in again
    first = max(losses(cut))
    # SIGUSR1 to rank 1 alone: the MAX all-reduce makes rank 0 stop on the same step, so both ranks
    # wrote their RNG state into the one checkpoint
    code, out = signal_mid_run(again, tmp_path, cut, first + 2, signal.SIGUSR1, rank=1)
    assert code == 75, out[-3000:]
    again = continue_from(out, tmp_path)
    second = max(losses(cut))
    assert second > first
    assert {p.name for p in (cut / "checkpoints" / f"step-{second:07d}").glob("rng-rank*.pt")} == \
        {"rng-rank0.pt", "rng-rank1.pt"}
    reasons = [e["reason"] for e in map(json.loads, (cut / "history.jsonl").read_text().splitlines())
               if e["event"] == "stopped"]
    assert reasons == ["SIGTERM", "SIGUSR1"]

    resumed = run_cli(again, cwd=tmp_path, env_extra=ENV)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert json.loads((cut / "manifest.json").read_text())["world_size"] == 2
    check_equal_to_uninterrupted(tmp_path / "full", cut)
