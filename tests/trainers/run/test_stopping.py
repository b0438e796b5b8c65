"""Stopping early without losing work, in process: a real signal (sent to this process during a
step's forward) or the time limit ends the loop after that step with a checkpoint and the
documented status; resuming from it gives the uninterrupted run's per-step losses. Durations parse
as SLURM writes them; the deadline is the earlier of train.time_limit and SLURM_JOB_END_TIME.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/run/test_stopping.py -q
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import ROOT, tiny_lora
from trainers.config.sections import TrainSection, parse_duration
from trainers.loop import train
from trainers.losses.sft_loss import SFTLoss
from trainers.run.run_dir import RunDir
from trainers.run.stopping import EXIT_INTERRUPTED, EXIT_REQUEUE, RunStopped, deadline, process_start_time

STEPS = 12


class SignalAt(torch.nn.Module):
    """The SFT loss, sending `signals` to this very process during the forward of call number `at`
    (a real signal, delivered mid-step, as a scheduler's would be)."""

    def __init__(self, inner, at: int, signals: tuple[int, ...]):
        super().__init__()
        self.inner, self.at, self.signals, self.calls = inner, at, signals, 0

    def forward(self, batch):
        self.calls += 1
        if self.calls == self.at:
            for s in self.signals:
                os.kill(os.getpid(), s)
        return self.inner(batch)


class Slow(torch.nn.Module):
    """The SFT loss, at least `seconds` per micro-batch: a step time the time limit can be set against."""

    def __init__(self, inner, seconds: float):
        super().__init__()
        self.inner, self.seconds = inner, seconds

    def forward(self, batch):
        time.sleep(self.seconds)
        return self.inner(batch)


def _train(run_dir, loss_of=lambda m: SFTLoss(m, 64), resume_from=None, seconds_left: float | None = None):
    """Train the tiny LoRA model (built afresh, same init) for STEPS; `seconds_left`: a time limit
    that ends that many seconds after the training starts."""
    cfg, built, ex, acc = tiny_lora(["train.micro_batch_size=2", "train.grad_accum=2", "train.lr=1e-2",
                                     f"train.max_steps={STEPS}", "train.save_every=0"])
    if seconds_left is not None:
        cfg.train.time_limit = time.time() - process_start_time() + seconds_left
    model = built.model
    run = RunDir(run_dir, True)
    result = train(loss_of(model), model, ex, [], built.tokenizer.pad_token_id, cfg.train, cfg.eval, run, acc,
                   resume_from=resume_from, progress=False)
    return result, {r["step"]: r["loss"] for r in run.read_metrics() if "loss" in r}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("full"))[1]


def _resumed_losses(run_dir, stop) -> dict:
    assert (stop.checkpoint / "state.json").is_file()
    result, losses = _train(run_dir, resume_from=run_dir / "checkpoints")
    assert result.resumed_from == stop.step
    return losses


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, EXIT_REQUEUE), (signal.SIGUSR1, EXIT_REQUEUE),
                                      (signal.SIGINT, EXIT_INTERRUPTED)])
def test_a_signal_mid_step_finishes_the_step_checkpoints_and_resumes_exactly(tmp_path, uninterrupted, sig, code):
    before = signal.getsignal(sig)
    # grad_accum=2: forward number 7 is the first micro-batch of step 4
    with pytest.raises(RunStopped) as stopped:
        _train(tmp_path, loss_of=lambda m: SignalAt(SFTLoss(m, 64), 7, (sig,)))
    stop = stopped.value.stop
    assert (stop.step, stop.total_steps, stop.exit_code) == (4, STEPS, code)
    assert stop.reason == signal.Signals(sig).name and stop.checkpoint.name == "step-0000004"
    assert signal.getsignal(sig) is before   # the loop's handler is gone with the loop
    losses = _resumed_losses(tmp_path, stop)
    assert sorted(losses) == sorted(uninterrupted) == list(range(1, STEPS + 1))
    for step, loss in uninterrupted.items():
        assert losses[step] == pytest.approx(loss, rel=1e-6, abs=1e-7), step


def test_a_second_ctrl_c_interrupts_at_once(tmp_path):
    # the handler the process had before (default_int_handler, or SIG_IGN for a job started in the
    # background by a non-interactive shell) is put back when the loop ends, whatever ended it
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, loss_of=lambda m: SignalAt(SFTLoss(m, 64), 3, (signal.SIGINT, signal.SIGINT)))
    assert signal.getsignal(signal.SIGINT) is before
    assert not list((tmp_path / "checkpoints").glob("step-*"))


def test_time_limit_stops_before_the_wall_and_resumes_exactly(tmp_path, uninterrupted):
    # steps of >= 0.4 s (two micro-batches of >= 0.2 s): 12 of them need more than the 5 s left, and
    # the loop keeps 2 x (step + checkpoint) + 2 s in hand, so it stops after a few, before the wall
    with pytest.raises(RunStopped) as stopped:
        _train(tmp_path, loss_of=lambda m: Slow(SFTLoss(m, 64), 0.2), seconds_left=5.0)
    stopped_at = time.time()
    stop = stopped.value.stop
    assert stop.reason.startswith("time limit: train.time_limit=") and stop.exit_code == EXIT_REQUEUE
    assert 1 <= stop.step < STEPS, stop
    wall = process_start_time() + float(stop.reason.split("=")[1].split("s")[0])
    assert stopped_at < wall, f"stopped {stopped_at - wall:.2f} s after the wall"
    losses = _resumed_losses(tmp_path, stop)
    for step, loss in uninterrupted.items():
        assert losses[step] == pytest.approx(loss, rel=1e-6, abs=1e-7), step


def test_durations_read_as_slurm_writes_them():
    assert [parse_duration(t) for t in ("90", "2.5", "30:00", "01:30:00", "1-00:00:00", "1-02", "1-02:30")] == \
        [90, 2.5, 1800, 5400, 86400, 93600, 95400]
    assert TrainSection(time_limit="00:02:00").time_limit == 120
    for bad in ("1h", "1:2:3:4", "-5", "a-01:00:00"):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_duration(bad)


def test_deadline_is_the_earlier_of_the_time_limit_and_slurms_end_time():
    start = process_start_time()
    assert deadline(None, {}) == (None, None)
    assert deadline(600, {}) == (pytest.approx(start + 600), "train.time_limit=600s")
    soon, late = int(start + 60), int(start + 6000)
    assert deadline(600, {"SLURM_JOB_END_TIME": str(soon)}) == (soon, "SLURM_JOB_END_TIME")
    assert deadline(600, {"SLURM_JOB_END_TIME": str(late)})[1] == "train.time_limit=600s"
    assert deadline(None, {"SLURM_JOB_END_TIME": str(late)}) == (late, "SLURM_JOB_END_TIME")


def test_process_start_time_is_when_the_process_began():
    before = time.time()
    out = subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5); "
                          "from trainers.run.stopping import process_start_time as p; print(p(), time.time())"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    started, now = float(out[0]), float(out[1])
    assert before - 0.05 <= started <= before + 0.3 and now - started >= 0.5
