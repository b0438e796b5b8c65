"""The run directory: resolved config, metrics, checkpoints, outputs, and a manifest written last.

Only the main process writes. manifest.json is written at the very end, so its presence means the
run completed; `train.resume: auto` looks for the newest run of a config without one.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any


def new_run_name(config_stem: str) -> str:
    return f"{config_stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def find_unfinished_run(parent: Path, config_stem: str) -> Path | None:
    """Newest `<stem>-<timestamp>` run that has a checkpoint but no manifest (killed or pre-empted)."""
    candidates = [p for p in parent.glob(f"{config_stem}-*") if p.is_dir()
                  and not (p / "manifest.json").exists() and any((p / "checkpoints").glob("step-*"))]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


class RunDir:
    def __init__(self, path: Path, is_main: bool):
        self.path, self.is_main = Path(path), is_main
        self.checkpoints = self.path / "checkpoints"
        self.started = time.time()
        if is_main:
            self.checkpoints.mkdir(parents=True, exist_ok=True)

    def write_text(self, name: str, text: str) -> None:
        if self.is_main:
            tmp = self.path / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path / name)   # readers never see half a file

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
                             cwd=Path(__file__).resolve().parents[1])
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
    return {"versions": versions, "git_sha": git_sha(), "hardware": hw}
