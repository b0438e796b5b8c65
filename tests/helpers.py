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
