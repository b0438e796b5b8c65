"""Shared test helpers (conftest holds fixtures only)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], cwd: Path, timeout: int = 600, env_extra: dict | None = None):
    """Run `python -m recipes.cli ARGS` as a user would run `kdtune`, returning the CompletedProcess."""
    import subprocess
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "recipes.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def kill_after_first_checkpoint(args: list[str], cwd: Path, run_dir: Path, timeout: float = 300) -> None:
    """Start `python -m recipes.cli ARGS`, SIGKILL it (whole process group) as soon as a complete
    checkpoint appears under run_dir, and check it had not finished — a real pre-emption."""
    import signal
    import subprocess
    import time
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    victim = subprocess.Popen([sys.executable, "-m", "recipes.cli", *args], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout
    while not any((run_dir / "checkpoints").glob("step-*/state.json")):
        assert victim.poll() is None, victim.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint before the deadline"
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (run_dir / "manifest.json").exists(), "run finished before it could be killed"
