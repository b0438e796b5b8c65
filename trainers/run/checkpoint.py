"""Resumable state: trainable weights, optimizer, scheduler, fp16 loss scaler, RNG per process, loop
position, and the resolved config it was trained with (config.yaml, its sha256 in state.json) so a
resume can refuse a changed config (trainers/run/resume_check.py).

Only parameters that train are saved (the LoRA adapter, or every weight in full fine-tuning), so a
7B QLoRA checkpoint is megabytes, not gigabytes. `state.json` is written last: a checkpoint
directory without it was interrupted mid-write and is ignored.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from data_tools.atomic import honour_umask
from trainers.errors import UserError
from trainers.run.sharding import (full_trainable_state, load_optimizer_state, load_trainable_state,
                                   optimizer_state)


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:07d}"


def save_checkpoint(root: Path, step: int, model: torch.nn.Module, optimizer, scheduler, loop_state: dict,
                    rank: int, is_main: bool, keep_last: int, barrier, scaler=None,
                    config_text: str | None = None) -> Path:
    """All ranks save their RNG; the main process saves the rest, then prunes old checkpoints.
    `scaler`: the fp16 GradScaler (None otherwise); its scale and growth tracker must survive a
    resume or the first resumed steps run with a reset scale (skipped steps, different losses)."""
    d = checkpoint_dir(root, step)
    if is_main:
        d.mkdir(parents=True, exist_ok=True)
    barrier()
    torch.save(_rng_state(), d / f"rng-rank{rank}.pt")
    # whole tensors, also under FSDP (gathered from the shards by every rank, kept by the main one)
    weights = full_trainable_state(model, keep=is_main)
    optim_state = optimizer_state(model, optimizer, is_main)
    if is_main:
        save_file(weights, str(d / "trainable.safetensors"))
        honour_umask(d / "trainable.safetensors")   # safetensors writes 0600: group members could not read it
        torch.save(optim_state, d / "optimizer.pt")
        torch.save(scheduler.state_dict(), d / "scheduler.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), d / "scaler.pt")
        if config_text is not None:
            (d / "config.yaml").write_text(config_text, encoding="utf-8")
    barrier()
    if is_main:
        from trainers.run.resume_check import config_sha256
        extra = {"config_sha256": config_sha256(config_text)} if config_text is not None else {}
        (d / "state.json").write_text(json.dumps(dict(loop_state, step=step, **extra), indent=2))
        complete = sorted(p for p in root.glob("step-*") if (p / "state.json").exists())
        for old in complete[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return d


def latest_checkpoint(root: Path) -> Path | None:
    complete = sorted(p for p in root.glob("step-*") if (p / "state.json").exists())
    return complete[-1] if complete else None


def check_keys(d: Path, saved: dict, model: torch.nn.Module) -> None:
    """Both ways: a saved tensor with no parameter here, or a trainable parameter with no saved
    tensor (it would silently keep its fresh initialisation), means another model or LoRA setup."""
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    extra = sorted(n for n in saved if n not in params)
    missing = sorted(trainable - set(saved))
    shape = sorted(n for n in saved if n in params and tuple(saved[n].shape) != tuple(params[n].shape))
    problems = []
    if extra:
        problems.append(f"{len(extra)} saved tensors have no parameter in this model (first: {extra[0]})")
    if missing:
        problems.append(f"{len(missing)} trainable parameters have no saved tensor (first: {missing[0]})")
    if shape:
        problems.append(f"{len(shape)} saved tensors have another shape (first: {shape[0]} "
                        f"{tuple(saved[shape[0]].shape)} vs {tuple(params[shape[0]].shape)})")
    if problems:
        raise UserError(f"checkpoint {d} does not match this model: {'; '.join(problems)}. Was it made with "
                        f"another model or LoRA config? Resume with that config, or start a new run.")


def load_checkpoint(d: Path, model: torch.nn.Module, optimizer, scheduler, rank: int, scaler=None) -> dict:
    """Restore in place; returns the loop state saved with it."""
    weights = load_file(str(d / "trainable.safetensors"))
    check_keys(d, weights, model)
    load_trainable_state(model, weights)
    load_optimizer_state(model, optimizer, torch.load(d / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(d / "scheduler.pt", weights_only=False))
    if scaler is not None:
        if not (d / "scaler.pt").is_file():
            raise UserError(f"checkpoint {d} has no loss-scaler state (scaler.pt) but this run uses fp16 "
                            f"loss scaling: it was made with another train.precision")
        scaler.load_state_dict(torch.load(d / "scaler.pt", weights_only=False))
    rng = d / f"rng-rank{rank}.pt"
    if rng.exists():
        _set_rng_state(torch.load(rng, weights_only=False))
    return json.loads((d / "state.json").read_text())
