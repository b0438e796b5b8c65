"""What every recipe sets up first: accelerator, precision, seed, run directory, resume point.

Order matters: the accelerator first (it knows the process group and device), then precision
(needs the device), then the seed (before any model is built, so LoRA init is identical on every
process and in every rerun), then the run directory (its name must be agreed across processes).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from trainers.config.loader import dump_config
from trainers.errors import UserError
from trainers.precision import COMPUTE_DTYPE, accelerate_mixed_precision, choose_precision
from trainers.run_dir import RunDir, environment_facts, find_unfinished_run, new_run_name


@dataclass
class Session:
    accelerator: object
    run: RunDir
    precision: str
    compute_dtype: torch.dtype
    device: torch.device
    resume_from: Path | None


def open_session(cfg, config_stem: str) -> Session:
    from accelerate import Accelerator
    from accelerate.utils import broadcast_object_list, set_seed

    cuda = torch.cuda.is_available()
    precision = choose_precision(cfg.train.precision, torch.device("cuda" if cuda else "cpu"))
    accelerator = Accelerator(mixed_precision=accelerate_mixed_precision(precision), cpu=not cuda)
    set_seed(cfg.train.seed)
    parent = Path(cfg.output.dir)
    name, resume_from, problem = None, None, None
    if accelerator.is_main_process:
        name, resume_from, problem = _pick_run(cfg, parent, config_stem)
    shared = [name, str(resume_from) if resume_from else None, problem]
    if accelerator.num_processes > 1:
        broadcast_object_list(shared)
    name, resume, problem = shared
    if problem:
        raise UserError(problem)
    run = RunDir(parent / name, accelerator.is_main_process)
    accelerator.wait_for_everyone()
    run.write_text("config.yaml", dump_config(cfg))
    return Session(accelerator=accelerator, run=run, precision=precision, compute_dtype=COMPUTE_DTYPE[precision],
                   device=accelerator.device, resume_from=Path(resume) if resume else None)


def _pick_run(cfg, parent: Path, stem: str) -> tuple[str, Path | None, str | None]:
    """-> (run name, checkpoint dir or None, error text or None)."""
    resume = cfg.train.resume
    if resume not in ("never", "auto"):
        ckpt = Path(resume)
        if not (ckpt / "state.json").is_file():
            return "", None, f"train.resume={resume}: not a complete checkpoint directory (no state.json)"
        run_path = ckpt.parent.parent
        return (cfg.output.name or run_path.name), ckpt, None
    if cfg.output.name:
        path = parent / cfg.output.name
        has_ckpt = any((path / "checkpoints").glob("step-*/state.json"))
        if resume == "auto":
            return cfg.output.name, (path / "checkpoints") if has_ckpt else None, None
        if (path / "manifest.json").exists() or has_ckpt:
            return "", None, (f"run directory {path} already holds a run; pick another output.name, "
                              f"or continue it with train.resume=auto")
        return cfg.output.name, None, None
    if resume == "auto":
        found = find_unfinished_run(parent, stem)
        if found is not None:
            return found.name, found / "checkpoints", None
    return new_run_name(stem), None, None


def write_manifest(session: Session, cfg, extra: dict) -> None:
    """Written last: its presence marks the run complete."""
    manifest = {"recipe": cfg.recipe, "seed": cfg.train.seed, "precision": session.precision,
                "world_size": session.accelerator.num_processes, **environment_facts(), **extra}
    session.accelerator.wait_for_everyone()
    session.run.write_json("manifest.json", manifest)
