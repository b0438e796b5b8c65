"""The run directory: resolved config, metrics, checkpoints, outputs, and a manifest written last.

Only the main process writes. manifest.json is written at the very end, so its presence means the
run completed; `train.resume: auto` looks for the newest run of a config without one.

One run, one directory: a new directory is created atomically (mkdir fails if it exists, so two
runs started in the same second get `-2`, `-3` suffixes instead of sharing one), and the run holds
an advisory lock on `<run>/.lock` (flock) until it ends. The kernel drops the lock when the process
dies, so a killed or pre-empted run never leaves a stale lock behind for `train.resume=auto`.
"""
from __future__ import annotations

import errno
import json
import os
import platform
import re
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from data_tools.atomic import atomic_write_text
from trainers.errors import UserError

LOCK_NAME = ".lock"
HISTORY_NAME = "history.jsonl"
# What a run writes before its first step; removed again when it fails that early.
EARLY_FILES = ("config.yaml", "history.jsonl", "skipped_rows.jsonl", LOCK_NAME)


def new_run_name(config_stem: str) -> str:
    return f"{config_stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _timestamped(config_stem: str) -> re.Pattern:
    return re.compile(re.escape(config_stem) + r"-\d{8}-\d{6}(-\d+)?")


def find_unfinished_run(parent: Path, config_stem: str) -> Path | None:
    """Newest `<stem>-<timestamp>` run that has a checkpoint but no manifest (killed or pre-empted)."""
    name = _timestamped(config_stem)
    candidates = [p for p in parent.glob(f"{config_stem}-*") if p.is_dir() and name.fullmatch(p.name)
                  and not (p / "manifest.json").exists() and any((p / "checkpoints").glob("step-*/state.json"))]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def fs_error(what: str, path: Path, err: OSError) -> UserError:
    """A filesystem failure as one actionable sentence (no traceback)."""
    reason = err.strerror or str(err)
    hint = {errno.EACCES: "check its permissions or pick a directory you can write",
            errno.EPERM: "check its permissions or pick a directory you can write",
            errno.ENOTDIR: "a part of that path is a file, not a directory",
            errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full"}.get(err.errno, "")
    return UserError(f"{what} {path}: {reason}" + (f" ({hint})" if hint else ""))


def make_run_dir(path: Path) -> bool:
    """Create `path` (and its parents) -> True if this call created it, False if it existed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:   # a file where output.dir (or a parent of it) should be
        raise fs_error("cannot create run directory", path, OSError(errno.ENOTDIR, "Not a directory")) from None
    except OSError as e:
        raise fs_error("cannot create run directory", path, e) from None
    try:
        path.mkdir()
        return True
    except FileExistsError:
        if not path.is_dir():
            raise UserError(f"run directory {path} exists and is not a directory") from None
        return False
    except OSError as e:
        raise fs_error("cannot create run directory", path, e) from None


def claim_new_run_dir(parent: Path, config_stem: str) -> Path:
    """A fresh `<stem>-<timestamp>` directory; a name taken (same config, same second) gets -2, -3, ..."""
    base = new_run_name(config_stem)
    for i in range(1, 10_000):
        path = parent / (base if i == 1 else f"{base}-{i}")
        if make_run_dir(path):
            return path
    raise UserError(f"could not find a free run directory name for {parent / base}")


class RunDir:
    def __init__(self, path: Path, is_main: bool, created: bool = False):
        self.path, self.is_main = Path(path), is_main
        self.checkpoints = self.path / "checkpoints"
        self.started = time.time()
        self.created = created          # this run made the directory (so it may remove it again)
        self.config_text: str | None = None   # the resolved config, also stored in each checkpoint
        self._lock_fd: int | None = None
        if is_main:
            try:
                self.checkpoints.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise fs_error("cannot create run directory", self.path, e) from None

    def lock(self) -> None:
        """Hold `.lock` for the life of this run; another live run holding it -> UserError naming it."""
        import fcntl
        lock = self.path / LOCK_NAME
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 400).decode("utf-8", "replace").strip() or "unknown process"
            os.close(fd)
            raise UserError(f"run directory {self.path} is in use by another run ({holder}); one directory "
                            f"holds one run: pick another output.name, or wait for that run to end") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{datetime.now().isoformat(timespec='seconds')}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # closing the descriptor releases the flock
            self._lock_fd = None

    def has_progress(self) -> bool:
        """Did this directory record any training (a logged step or a checkpoint)?"""
        return (self.path / "metrics.jsonl").exists() or any(self.checkpoints.glob("step-*"))

    def discard(self) -> None:
        """Remove what a run writes before its first step, then the directory if that left it empty.
        Only known names are removed: a directory the user pointed at keeps anything else it holds."""
        for name in EARLY_FILES:
            (self.path / name).unlink(missing_ok=True)
        for d in (self.checkpoints, self.path):
            try:
                d.rmdir()
            except OSError:
                return

    def add_history(self, event: dict) -> None:
        """One line per start, resume (with the config keys it changed) and failure of this run."""
        if self.is_main:
            row = {"time": datetime.now().isoformat(timespec="seconds"), "pid": os.getpid(), **event}
            with open(self.path / HISTORY_NAME, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    def write_text(self, name: str, text: str) -> None:
        if self.is_main:
            atomic_write_text(self.path / name, text)   # readers never see half a file

    def write_json(self, name: str, obj: Any) -> None:
        self.write_text(name, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")

    def log_metrics(self, row: dict) -> None:
        if self.is_main:
            with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def truncate_metrics(self, after_step: int) -> None:
        """On resume, drop lines logged after the checkpoint: they will be logged again."""
        f = self.path / "metrics.jsonl"
        if self.is_main and f.exists():
            keep = [ln for ln in f.read_text(encoding="utf-8").splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= after_step]
            f.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")

    def read_metrics(self) -> list[dict]:
        f = self.path / "metrics.jsonl"
        if not f.exists():
            return []
        return [json.loads(ln) for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()]


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parents[2])
        sha = out.stdout.strip()
        return sha if out.returncode == 0 and len(sha) == 40 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment_facts() -> dict[str, Any]:
    import importlib.metadata as md

    import torch
    versions = {}
    for pkg in ("kdtune", "torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    hw = {"platform": platform.platform(), "python": platform.python_version(),
          "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        hw["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    from trainers.models.offline import network_facts
    # "offline": true means no hub request was allowed during the run (trainers/models/offline.py)
    return {"versions": versions, "git_sha": git_sha(), "hardware": hw, "user": run_user(), **network_facts()}


def run_user() -> str:
    """Who ran it (`kdtune report --group-by user` sums device-hours and won per user); the uid
    where the system has no name for it (containers often have none)."""
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
