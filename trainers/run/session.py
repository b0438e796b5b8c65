"""What every recipe sets up first: accelerator, precision, seed, run directory, resume point.

Order matters: the accelerator first (it knows the process group and device), then precision
(needs the device), then the seed (before any model is built, so LoRA init is identical on every
process and in every rerun), then the run directory (its name must be agreed across processes).

The session is a context manager around the training: it holds the run directory's lock until the
run ends, and a run that fails before its first step leaves nothing behind (its directory is
removed again), so `train.resume=auto` and `kdtune report` never meet an empty husk.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from trainers.config.loader import dump_config
from trainers.errors import UserError
from trainers.models.precision import COMPUTE_DTYPE, accelerate_mixed_precision, choose_precision
from trainers.run.checkpoint import latest_checkpoint
from trainers.run.resume_check import check_resume
from trainers.run.run_dir import (RunDir, claim_new_run_dir, environment_facts, find_unfinished_run,
                                  make_run_dir, run_user)
from trainers.run.stopping import RunStopped


@dataclass
class Session:
    accelerator: object
    run: RunDir
    precision: str
    compute_dtype: torch.dtype
    device: torch.device
    resume_from: Path | None
    config_stem: str = ""    # the config's file name, recorded in the manifest (report --group-by config)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, kind, error, tb) -> bool:
        self.close(error)
        return False

    def close(self, error: BaseException | None = None) -> None:
        """Release the run directory. On failure: nothing left if no step was recorded, else the
        error goes into history.jsonl (checkpoints stay resumable)."""
        run = self.run
        if run.is_main and isinstance(error, RunStopped):   # pre-empted or out of time: resumable
            stop = error.stop
            run.add_history({"event": "stopped", "reason": stop.reason, "step": stop.step,
                             "checkpoint": str(stop.checkpoint), "exit_code": stop.exit_code})
        elif run.is_main and error is not None:
            if self.resume_from is None and not run.has_progress():
                run.discard()
            else:
                run.add_history({"event": "failed", "error": f"{type(error).__name__}: {error}"[:2000]})
        run.unlock()


def open_session(cfg, config_stem: str) -> Session:
    from accelerate.utils import broadcast_object_list, set_seed

    from trainers.run.sharding import make_accelerator

    cuda = torch.cuda.is_available()
    precision = choose_precision(cfg.train.precision, torch.device("cuda" if cuda else "cpu"))
    accelerator = make_accelerator(cfg.train.strategy, accelerate_mixed_precision(precision), cpu=not cuda)
    set_seed(cfg.train.seed)
    run, resume, problem = None, None, None
    if accelerator.is_main_process:
        try:
            run, resume = _claim_run(cfg, Path(cfg.output.dir).expanduser(), config_stem, dump_config(cfg))
        except UserError as e:
            problem = str(e)
    shared = [str(run.path) if run else None, str(resume) if resume else None, problem]
    if accelerator.num_processes > 1:
        broadcast_object_list(shared)
    path, resume, problem = shared
    if problem:
        raise UserError(problem)
    run = run or RunDir(Path(path), is_main=False)
    accelerator.wait_for_everyone()
    return Session(accelerator=accelerator, run=run, precision=precision, compute_dtype=COMPUTE_DTYPE[precision],
                   device=accelerator.device, resume_from=Path(resume) if resume else None,
                   config_stem=config_stem)


def seed_this_rank(seed: int, rank: int) -> int:
    """Re-seed python, numpy and torch (CUDA too) with `seed + rank`; returns that seed.

    Call it AFTER every model and adapter is built: `open_session` seeds all processes alike so
    LoRA initialisation is identical on every rank (and on a rerun), but from then on each process
    must draw its own random numbers, or every rank applies the same dropout masks to its own
    shard and data parallelism loses part of its regularising noise. Batch order does not depend
    on these generators (trainers/data/sft_data.py derives it from the config seed alone), and a
    resumed run restores each rank's generator state from its checkpoint (rng-rank{N}.pt)."""
    from accelerate.utils import set_seed
    set_seed(seed + rank)
    return seed + rank


def _claim_run(cfg, parent: Path, stem: str, config_text: str) -> tuple[RunDir, Path | None]:
    """Main process: create or find the run directory, lock it, decide the resume point, check the
    config against the checkpoint's, write config.yaml -> (run, checkpoint dir or None)."""
    resume, ckpt, created = cfg.train.resume, None, False
    if resume not in ("never", "auto"):
        ckpt = Path(resume).expanduser()
        if not (ckpt / "state.json").is_file():
            raise UserError(f"train.resume={resume}: not a complete checkpoint directory (no state.json)")
        path = parent / cfg.output.name if cfg.output.name else ckpt.parent.parent
    elif cfg.output.name:
        path = parent / cfg.output.name
    elif resume == "auto" and (found := find_unfinished_run(parent, stem)) is not None:
        path = found
    else:
        path, created = claim_new_run_dir(parent, stem), True   # created atomically: never shared
    created = created or make_run_dir(path)
    run = RunDir(path, is_main=True, created=created)
    run.lock()   # from here on no other run can change this directory
    try:
        ckpt = _resume_point(run, resume, ckpt)
        changes = check_resume(ckpt, config_text, _state(ckpt).get("config_sha256")) if ckpt else {}
    except UserError:
        run.unlock()
        if created:
            run.discard()
        raise
    if ckpt is None:   # a fresh start: lines of an earlier attempt that never checkpointed go
        for stale in ("metrics.jsonl", "skipped_rows.jsonl"):
            (run.path / stale).unlink(missing_ok=True)
    run.config_text = config_text
    run.write_text("config.yaml", config_text)
    if ckpt is None:   # who and which config: `report --group-by` bills a run stopped before its end
        run.add_history({"event": "start", "user": run_user(), "config": stem})
    else:
        changes.pop("train.resume", None)   # resuming is the event itself, not a change
        run.add_history({"event": "resume", "checkpoint": str(ckpt), "step": _state(ckpt).get("step"),
                         "changed": changes})
    return run, ckpt


def _state(ckpt: Path) -> dict:
    return json.loads((ckpt / "state.json").read_text())


def _resume_point(run: RunDir, resume: str, ckpt: Path | None) -> Path | None:
    """The checkpoint to continue from (None: start fresh), or a UserError saying why this
    directory cannot take this run. Called under the run's lock."""
    path = run.path
    if (path / "manifest.json").exists():
        if resume == "never":
            raise UserError(f"run directory {path} already holds a finished run; pick another output.name")
        last = latest_checkpoint(run.checkpoints)
        fork = (f" To train further, start a new run from its last checkpoint: train.resume={last} "
                f"output.name=NEW_NAME" if last else "")
        raise UserError(f"run {path} is finished (manifest.json present) and a finished run is never "
                        f"retrained; train.resume={resume} refused.{fork}")
    own = latest_checkpoint(run.checkpoints)
    if resume == "never":
        if own is not None or (path / "metrics.jsonl").exists():
            raise UserError(f"run directory {path} already holds an unfinished run; continue it with "
                            f"train.resume=auto, or pick another output.name")
        return None
    if resume == "auto":
        return own
    if own is not None and ckpt.parent.resolve() != run.checkpoints.resolve():
        raise UserError(f"run directory {path} holds checkpoints of its own; resume from one of them "
                        f"or pick another output.name for a run started from {ckpt}")
    return ckpt


def write_manifest(session: Session, cfg, extra: dict) -> None:
    """Written last: its presence marks the run complete."""
    manifest = {"recipe": cfg.recipe, "config": session.config_stem, "seed": cfg.train.seed,
                "precision": session.precision,
                "world_size": session.accelerator.num_processes, **environment_facts(), **extra}
    session.accelerator.wait_for_everyone()
    session.run.write_json("manifest.json", manifest)
