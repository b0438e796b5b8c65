"""The typed records a run directory holds: compute.json, manifest.json, eval.json.

Writers build a record and dump it; `kdtune report` reads each file back through the same model, so
a field renamed on one side is an error at once, not a silently empty column. compute.json is
fully typed (kdtune writes every field of it); manifest.json and eval.json carry free-form detail
(data counts, per-category results), so their models type the fields reports rely on and keep the rest.

compute.json, field meanings:
  phase            what was metered: train | eval | distill-cache | traces
  tokens           input tokens processed (every position through the blocks)
  target_tokens    positions that reached the output head (trained / distilled / scored)
  seconds          device-seconds of that work: CPU time of the process on CPU (core-seconds), wall
                   time on a GPU (trainers/compute/cpu.py says why); `seconds_basis` names which
  wall_seconds     wall-clock time of the same intervals
  eval_seconds, checkpoint_seconds (+ _wall_): time spent evaluating / saving checkpoints inside a
                   training run: reported, never billed as training
  total_flops      hardware FLOPs (recompute included); model_flops leaves recompute out (MFU)
  teacher_flops    of total_flops, a live teacher's forwards (logit KD on the fly)
  peak_tflops      per device (per core on CPU); `peak_source`: catalogue | calibrated | config
  teacher          compute carried in from the teacher artefacts this run consumed (a distill-cache
                   directory, a traces directory), each with its own FLOPs, hours and cost
  totals           this record's own work + carried teacher compute: what the result cost in all
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from data_tools.atomic import atomic_write_json
from trainers.errors import UserError

Phase = Literal["train", "eval", "distill-cache", "traces"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeacherSource(_Record):
    """One teacher artefact's compute, as its own compute.json recorded it (None where it has none)."""
    path: str
    phase: str
    total_flops: int | None
    device_hours: float | None
    cost_krw: float | None
    note: str | None = None


class TeacherCharge(_Record):
    pflops: float
    device_hours: float
    cost_krw: float | None
    complete: bool                  # False when a source had no compute.json (older artefact)
    sources: list[TeacherSource]


class Totals(_Record):
    pflops: float
    device_hours: float
    cost_krw: float | None


class ComputeRecord(_Record):
    phase: Phase
    device: str
    gpu: str | None
    threads: int | None = None
    threads_reason: str | None = None
    world_size: int = 1
    tokens: int
    target_tokens: int
    seq_len_mean: int | None = None
    flops_per_token: dict | None = None          # trainers.compute.flops.FlopBreakdown of the trained method
    head_passes: int | None = None
    total_flops: int
    model_flops: int
    extra_flops: int = 0
    teacher_flops: int = 0
    pflops: float
    seconds: float
    seconds_basis: str
    wall_seconds: float
    paused_seconds: float = 0.0
    eval_seconds: float = 0.0
    eval_wall_seconds: float = 0.0
    checkpoint_seconds: float = 0.0
    checkpoint_wall_seconds: float = 0.0
    tokens_per_s: float | None                   # per wall second
    achieved_tflops: float | None                # per device-second, recompute included
    model_tflops: float | None
    peak_tflops: float | None
    peak_source: str | None = None
    mfu: float | None
    mfu_basis: str
    energy_J: float | None
    energy_reason: str | None
    device_hours: float
    price_krw_per_hour: float | None
    price_basis: str | None = None
    cost_krw: float | None
    teacher: TeacherCharge | None = None
    totals: Totals


class ManifestRecord(BaseModel):
    """manifest.json: written last, so its presence marks a complete run. Typed where read."""
    model_config = ConfigDict(extra="allow")
    recipe: str
    method: str | None = None
    config: str | None = None      # the config file's name (training runs); `report --group-by config`
    user: str | None = None        # who ran it; `report --group-by user`


class EvalOverall(BaseModel):
    model_config = ConfigDict(extra="allow")
    n: int
    correct: int | None = None
    missing: int = 0
    accuracy: float
    ci95: tuple[float, float]


class EvalRecord(BaseModel):
    """eval.json: the overall result is typed; per-category detail and examples ride along."""
    model_config = ConfigDict(extra="allow")
    dataset: str | None = None
    chance: float | None = None
    overall: EvalOverall
    compute: dict | None = None


def totals_with(own_pflops: float, own_hours: float, own_cost: float | None,
                teacher: TeacherCharge | None) -> Totals:
    if teacher is None:
        return Totals(pflops=own_pflops, device_hours=own_hours, cost_krw=own_cost)
    cost = None if own_cost is None or teacher.cost_krw is None else own_cost + teacher.cost_krw
    return Totals(pflops=own_pflops + teacher.pflops, device_hours=own_hours + teacher.device_hours,
                  cost_krw=cost)


def read_record(path: Path, model: type[BaseModel]):
    """The record in `path`, or None when the file is absent; a malformed one is a UserError."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()
        raise UserError(f"{path} is not a valid {model.__name__} ({' '.join(first[:3])}); it was "
                        f"written by another kdtune version or edited by hand — re-run that step") from None


def write_record(run_or_dir, name: str, record: BaseModel) -> dict:
    """Dump through a RunDir (main process only, atomic) or into a plain directory; returns the dict."""
    data = record.model_dump(mode="json")
    if hasattr(run_or_dir, "write_json"):
        run_or_dir.write_json(name, data)
    else:
        atomic_write_json(Path(run_or_dir) / name, data)
    return data
