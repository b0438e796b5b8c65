"""Resume that cannot lie: a checkpoint continues only the training it was made by.

Each checkpoint stores the resolved config it was trained with (`config.yaml`) and its sha256 (in
`state.json`). Resuming compares that config with the one given now, key by key. A change to what
is being learned (lr, data, model, LoRA, batch, seed, ...) would be silently ignored by the restored
optimizer and scheduler, or would mix two trainings in one run, so it is an error listing each key
old -> new. Keys that only say how long to train, how often to log, save or evaluate, where to
write and how to price compute may change; the run's history.jsonl records every such change.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from trainers.errors import UserError

# Exact keys, or prefixes ending in "." for whole sections.
SAFE_ON_RESUME = ("description", "train.resume", "train.max_steps", "train.save_every", "train.keep_last",
                  "train.log_every", "train.auto_fit", "train.time_limit", "eval.", "output.", "compute.")


def config_sha256(config_text: str) -> str:
    return hashlib.sha256(config_text.encode("utf-8")).hexdigest()


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 1e-3}} -> {"train.lr": 1e-3}; lists stay values."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(saved: dict, current: dict) -> dict[str, list]:
    """Every dotted key whose value differs. A key present on one side only counts as changed,
    unless the other side's value is null: that is an optional key added to the schema since the
    checkpoint was written (its default, unset), not a change to the training."""
    a, b = flatten(saved), flatten(current)
    missing = object()
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b))
            if a.get(k, missing) != b.get(k, missing) and not (k not in a and b[k] is None)
            and not (k not in b and a[k] is None)}


def is_safe(key: str) -> bool:
    return any(key == s or (s.endswith(".") and key.startswith(s)) for s in SAFE_ON_RESUME)


def saved_config_text(ckpt: Path) -> str:
    """The config a checkpoint was trained with: its own copy, else (older checkpoints) the run's."""
    for f in (ckpt / "config.yaml", ckpt.parent.parent / "config.yaml"):
        if f.is_file():
            return f.read_text(encoding="utf-8")
    raise UserError(f"checkpoint {ckpt} carries no config.yaml (nor does its run directory), so what it "
                    f"was trained with cannot be checked; resume refused")


def check_resume(ckpt: Path, config_text: str, saved_sha: str | None = None) -> dict[str, list]:
    """-> the safe changes {key: [old, new]} (empty when nothing changed); UserError listing every
    change that is not safe."""
    if saved_sha is not None and saved_sha == config_sha256(config_text):
        return {}
    saved = yaml.safe_load(saved_config_text(ckpt)) or {}
    changes = config_changes(saved, yaml.safe_load(config_text) or {})
    unsafe = {k: v for k, v in changes.items() if not is_safe(k)}
    if unsafe:
        listed = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in unsafe.items())
        raise UserError(f"cannot resume from {ckpt}: the config differs from the one it was trained with "
                        f"({listed}). The restored optimizer and schedule would ignore these or mix two "
                        f"trainings in one run. Resume with the original values, or start a new run "
                        f"(another output.name, train.resume=never). Keys that may change on resume: "
                        f"{', '.join(s + '*' if s.endswith('.') else s for s in SAFE_ON_RESUME)}.")
    return changes
