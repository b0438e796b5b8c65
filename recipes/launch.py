"""`--nproc N`: start N local processes through torchrun, each running the same command; and what a
run stopped early (pre-emption, time limit: trainers/run/stopping.py) tells the user.

Every process agrees on the run directory: rank 0 picks it and broadcasts it (trainers.run.session).
Clusters use their own engine instead: `accelerate launch -m recipes.cli run ...`, `torchrun`, or
the sbatch script `kdtune slurm` writes.

A stopped run exits 75 (requeue) or 130 (Ctrl-C) in every process, but torchrun reports its own
failure status, not its workers'. So rank 0 also writes its status to $KDTUNE_EXIT_FILE when that is
set; `--nproc` and the sbatch script read it back from there. A worker that meets bad input (a data
file, a model) writes its one-paragraph error there too instead of printing it once per process.

`--nproc` starts torchrun through this module (`python -m recipes.launch`), not `-m
torch.distributed.run`: when the workers have said what happened in the exit file, torchrun's own
failure report (a Python traceback and a table of exit codes) would only bury the message; when they
have not — a crash — that report is what the user needs, and it is shown unchanged.
"""
from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

EXIT_FILE_ENV = "KDTUNE_EXIT_FILE"
NPROC_ENV = "KDTUNE_NPROC"
# Signals torchrun passes on to its workers (it passes only TERM/INT/HUP/QUIT unless told), and
# how long it lets them finish their step and checkpoint before it kills them.
FORWARDED = "SIGTERM,SIGINT,SIGUSR1,SIGHUP,SIGQUIT"
SHUTDOWN_SECONDS = 600


def torchrun_args() -> list[str]:
    return [f"--signals-to-handle={FORWARDED}", f"--shutdown-timeout={SHUTDOWN_SECONDS}"]


def relaunch(nproc: int, argv: list[str]) -> int:
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "recipes.launch", "--standalone", f"--nproc_per_node={nproc}",
           *torchrun_args(), "-m", "recipes.cli", *args]
    with tempfile.TemporaryDirectory(prefix="kdtune-launch-") as tmp:
        exit_file = Path(tmp) / "exit"
        env = dict(os.environ, **{EXIT_FILE_ENV: str(exit_file), NPROC_ENV: str(nproc)})
        # torchrun gets its own session, so a signal to this process group (Ctrl-C, a scheduler)
        # reaches it once, from here, and its workers once, from it
        proc = subprocess.Popen(cmd, env=env, start_new_session=True)
        previous = {s: signal.signal(s, lambda signum, frame: proc.send_signal(signum))
                    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)}
        try:
            code = proc.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if not exit_file.is_file():
            return code
        # said last, after torchrun's own report of the signal it passed on
        status, _, message = exit_file.read_text().partition("\n")
        print(message, end="", file=sys.stderr, flush=True)
        return int(status)


def continue_command(argv: list[str], run_name: str, resume_key: bool = True) -> str:
    """The command that continues a stopped run: the same one, with train.resume=auto and the run's
    output.name (so it continues this run, not the newest unfinished one of its config). A bench
    (`resume_key` False) continues by its output.name alone."""
    args = [a for a in argv if not a.startswith("train.resume=")]
    if not any(a.startswith("output.name=") for a in args):
        args.append(f"output.name={run_name}")
    if os.environ.get(NPROC_ENV) and "--nproc" not in args:
        args[2:2] = ["--nproc", os.environ[NPROC_ENV]]   # after `run RECIPE`
    text = shlex.join(["kdtune", *args, *(["train.resume=auto"] if resume_key else [])])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not os.environ.get(NPROC_ENV):
        text += "  (through the same launcher as this run: torchrun, accelerate launch or srun)"
    return text


def _continue(error, argv: list[str]) -> str:
    bench = getattr(error, "continue_name", None)   # set by a bench (recipes/bench.py)
    if bench:
        return continue_command(argv, bench, resume_key=False)
    return continue_command(argv, error.stop.checkpoint.parent.parent.name)


def report_stop(error, argv: list[str]) -> int:
    """Print where the stop checkpoint is and how to continue (main process), hand on the status."""
    from trainers.run.stopping import EXIT_REQUEUE
    stop = error.stop
    if error.is_main:
        kind = "stopped to be requeued" if stop.exit_code == EXIT_REQUEUE else "interrupted"
        message = (f"kdtune: {error}\nkdtune: continue with: "
                   f"{_continue(error, argv)}\n"
                   f"kdtune: exit status {stop.exit_code} ({kind})\n")
        if not os.environ.get(NPROC_ENV):   # under --nproc, relaunch says it once torchrun is done
            print(message, end="", file=sys.stderr, flush=True)
        if os.environ.get(EXIT_FILE_ENV):
            Path(os.environ[EXIT_FILE_ENV]).write_text(f"{stop.exit_code}\n{message}")
    return stop.exit_code


def report_error(message: str) -> bool:
    """Under `--nproc`: hand a worker's input error to the launcher, which prints it once; rank 0's
    wins, another rank's is kept only when rank 0 said nothing (an error only that rank met).
    False when not launched by `--nproc` (the caller prints it)."""
    path = os.environ.get(EXIT_FILE_ENV)
    if not path or not os.environ.get(NPROC_ENV):
        return False
    record = f"2\nkdtune: error: {message}\n"
    if int(os.environ.get("RANK", "0")) == 0:
        Path(path).write_text(record)
    else:
        try:
            with open(path, "x") as f:
                f.write(record)
        except FileExistsError:
            pass
    return True


def torchrun(argv: list[str]) -> int:
    """torchrun's own launcher (parse_args + run), quiet only where the workers reported already."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run
    reported = Path(os.environ.get(EXIT_FILE_ENV) or "/nonexistent")

    class AfterWorkersReported(logging.Filter):
        # the agent's "failed (exitcode: 2) local_rank: 0" lines repeat what the workers said
        def filter(self, record):
            return not reported.is_file()

    for name in ("torch.distributed.elastic.multiprocessing.api", "torch.distributed.elastic.agent.server.api"):
        logging.getLogger(name).addFilter(AfterWorkersReported())
    try:
        run(parse_args(argv))
    except (ChildFailedError, SignalException):
        if not reported.is_file():
            raise
        return 1   # relaunch returns the status the workers wrote, and prints their message
    return 0


if __name__ == "__main__":
    sys.exit(torchrun(sys.argv[1:]))
