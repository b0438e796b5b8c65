"""Stopping early without losing work: pre-emption signals and wall-time limits.

Shared clusters end jobs in two ways. Pre-emption and SLURM's `--signal` warning send SIGTERM or
SIGUSR1; the job's time limit is a wall the job must not reach. In both cases the training loop
finishes the optimizer step it is in, writes a checkpoint, and stops with a status that says what
happened (the CLI prints where the checkpoint is and the command that continues it):

    EXIT_REQUEUE = 75      SIGTERM, SIGUSR1, train.time_limit or SLURM's end time: resume and go on
                           (sysexits' EX_TEMPFAIL, "try again later"); kdtune's sbatch script
                           requeues the job on this status
    EXIT_INTERRUPTED = 130 SIGINT (Ctrl-C): stopped by a person, checkpoint written, not requeued

The signal handler only records the signal (nothing else is safe at an arbitrary point of a
backward pass); the loop reads it between steps. A second Ctrl-C interrupts at once, as usual.

With several processes each one may see the signal or the clock at a different step, so every
step all ranks all-reduce their stop code with MAX and stop together on the same step (a rank
saving alone would wait forever in the checkpoint's barrier).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

EXIT_REQUEUE = 75
EXIT_INTERRUPTED = 130

# Stop codes, ordered: the all-reduced MAX is the reason every rank reports.
_NONE, _TIME, _USR1, _TERM, _INT = range(5)
_REASON = {_TIME: "time limit", _USR1: "SIGUSR1", _TERM: "SIGTERM", _INT: "SIGINT"}
_CODE_OF = {signal.SIGUSR1: _USR1, signal.SIGTERM: _TERM, signal.SIGINT: _INT}
# Besides the slowest step and checkpoint (twice each), what the process still needs after the
# checkpoint to exit; the time limit is a hard wall, so the margin errs on the early side.
EXIT_SECONDS = 2.0
_IMPORTED = time.time()


def process_start_time() -> float:
    """When this process started (epoch seconds), from /proc; the import time where /proc is absent.
    The limit counts from the process start, as the scheduler's wall does, model loading included."""
    try:   # field 22 of stat: start, in clock ticks after boot; uptime: now, in seconds after boot
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return _IMPORTED


def deadline(time_limit: float | None, environ=os.environ) -> tuple[float | None, str | None]:
    """-> (epoch second to be stopped by, what set it): the earlier of process start + time_limit
    and SLURM_JOB_END_TIME (set by SLURM in the job's environment); (None, None) without either."""
    found = []
    if time_limit is not None:
        found.append((process_start_time() + time_limit, f"train.time_limit={time_limit:g}s"))
    end = environ.get("SLURM_JOB_END_TIME", "").strip()
    if end.isdigit() and int(end) > 0:
        found.append((float(end), "SLURM_JOB_END_TIME"))
    return min(found) if found else (None, None)


@dataclass
class Stop:
    """What the loop raises after its stop checkpoint; the CLI prints it and exits with `exit_code`."""
    reason: str
    step: int
    total_steps: int
    checkpoint: Path
    exit_code: int


class RunStopped(Exception):
    def __init__(self, stop: Stop, is_main: bool):
        super().__init__(f"stopped at step {stop.step} of {stop.total_steps} ({stop.reason}); "
                         f"checkpoint {stop.checkpoint}")
        self.stop, self.is_main = stop, is_main


class StopWatch:
    """Installed around the loop: records stop signals and the wall-time deadline, and answers, once
    per optimizer step and identically on every rank, whether to stop now."""

    def __init__(self, time_limit: float | None, accelerator):
        self.accelerator = accelerator
        self.deadline, self.deadline_source = deadline(time_limit)
        self.code = _NONE
        self.slowest_step = 0.0
        self.slowest_checkpoint: float | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopWatch":
        if threading.current_thread() is threading.main_thread():   # signals go to the main thread only
            for sig in _CODE_OF:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def __exit__(self, *exc) -> bool:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def _record(self, signum, frame) -> None:
        self.code = max(self.code, _CODE_OF[signum])
        if signum == signal.SIGINT:   # a second Ctrl-C is the usual hard interrupt
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def timed_step(self, seconds: float) -> None:
        self.slowest_step = max(self.slowest_step, seconds)

    def timed_checkpoint(self, seconds: float) -> None:
        self.slowest_checkpoint = max(self.slowest_checkpoint or 0.0, seconds)

    def margin(self) -> float:
        """Seconds to keep before the deadline: one more step must fit (the check runs after a
        step), then the checkpoint (the step's time stands in until one was timed), then the exit;
        each doubled against a slower step or filesystem than measured."""
        checkpoint = self.slowest_step if self.slowest_checkpoint is None else self.slowest_checkpoint
        return 2 * (self.slowest_step + checkpoint) + EXIT_SECONDS

    def should_stop(self) -> str | None:
        """Called by every rank after each optimizer step -> the agreed reason to stop, or None."""
        code = self.code
        if code == _NONE and self.deadline is not None and time.time() + self.margin() >= self.deadline:
            code = _TIME
        if self.accelerator.num_processes > 1:
            import torch
            import torch.distributed as dist
            flag = torch.tensor([code], dtype=torch.int32, device=self.accelerator.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            code = int(flag.item())
        if code == _TIME:
            return f"time limit: {self.deadline_source}, {self.margin():.0f} s margin"
        return _REASON.get(code)

    @staticmethod
    def exit_code(reason: str) -> int:
        return EXIT_INTERRUPTED if reason == "SIGINT" else EXIT_REQUEUE
