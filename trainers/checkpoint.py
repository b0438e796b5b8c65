"""Resumable state: trainable weights, optimizer, scheduler, RNG per process, loop position.

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
                    rank: int, is_main: bool, keep_last: int, barrier) -> Path:
    """All ranks save their RNG; the main process saves the rest, then prunes old checkpoints."""
    d = checkpoint_dir(root, step)
    if is_main:
        d.mkdir(parents=True, exist_ok=True)
    barrier()
    torch.save(_rng_state(), d / f"rng-rank{rank}.pt")
    if is_main:
        weights = {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}
        save_file(weights, str(d / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), d / "optimizer.pt")
        torch.save(scheduler.state_dict(), d / "scheduler.pt")
    barrier()
    if is_main:
        (d / "state.json").write_text(json.dumps(dict(loop_state, step=step), indent=2))
        complete = sorted(p for p in root.glob("step-*") if (p / "state.json").exists())
        for old in complete[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return d


def latest_checkpoint(root: Path) -> Path | None:
    complete = sorted(p for p in root.glob("step-*") if (p / "state.json").exists())
    return complete[-1] if complete else None


def load_checkpoint(d: Path, model: torch.nn.Module, optimizer, scheduler, rank: int) -> dict:
    """Restore in place; returns the loop state saved with it."""
    weights = load_file(str(d / "trainable.safetensors"))
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise ValueError(f"checkpoint {d} does not match this model: {len(missing)} saved tensors "
                         f"have no parameter here (first: {missing[0]}); was it made with another config?")
    with torch.no_grad():
        for n, t in weights.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))
    optimizer.load_state_dict(torch.load(d / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(d / "scheduler.pt", weights_only=False))
    rng = d / f"rng-rank{rank}.pt"
    if rng.exists():
        _set_rng_state(torch.load(rng, weights_only=False))
    return json.loads((d / "state.json").read_text())
