"""What a run spent: tokens, FLOPs, device seconds, energy and won, written to `compute.json`.

The training loop owns its meter: it starts it, reports each optimizer step with `add_tokens(input
tokens, target_tokens=...)` (the blocks see every input token, the output head only the targets —
trainers.compute.flops.TokenCost), runs evaluation and checkpoint saving inside `section("eval")` /
`section("checkpoint")` so that time is reported beside training, never billed as it, and saves
`state_dict()` in every checkpoint so a resumed run's record equals an uninterrupted one's (tokens
and FLOPs exactly; seconds are the sum of both parts). Energy comes only from NVML's total-energy
counter on the GPU this process uses; where that is missing the value is `null` with the reason —
a number is never estimated from TDP.

Device-seconds are CPU time of the process on CPU (core-seconds) and wall time on a GPU; wall time
is kept beside them (trainers/compute/cpu.py explains the choice). On CUDA the caller should synchronise
before a section or snapshot if it wants queued kernels counted in the interval that launched them.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Literal

from trainers.compute.cpu import SECONDS_BASIS_CPU, SECONDS_BASIS_WALL, device_clock
from trainers.compute.flops import FlopBreakdown, TokenCost, train_token_cost
from trainers.run.records import ComputeRecord, TeacherCharge, totals_with, write_record

EnergyReader = Callable[[], float]  # cumulative joules since some fixed point
BUCKETS = ("train", "paused", "eval", "checkpoint")


def open_nvml_energy(device: str) -> tuple[EnergyReader | None, str | None]:
    """A reader of this process's GPU energy counter, or (None, why not)."""
    if device != "cuda":
        return None, f"device is {device}: NVML measures NVIDIA GPUs only"
    try:
        import pynvml  # from the nvidia-ml-py package
    except ImportError:
        return None, "nvidia-ml-py (pynvml) is not installed"
    try:
        import torch
        if not torch.cuda.is_available():
            return None, "CUDA is not available"
        # CUDA and NVML may number GPUs differently (CUDA_VISIBLE_DEVICES, FASTEST_FIRST order),
        # so find the NVML handle by the PCI address of the CUDA device this process uses.
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        pci = [getattr(props, f"pci_{k}_id", None) for k in ("domain", "bus", "device")]
        pynvml.nvmlInit()
        if all(isinstance(v, int) for v in pci):
            handle = pynvml.nvmlDeviceGetHandleByPciBusId("{:08x}:{:02x}:{:02x}.0".format(*pci))
        else:  # older torch: fall back to the UUID, which NVML prefixes with "GPU-"
            uuid = str(props.uuid)
            handle = pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises on GPUs older than Volta
    except Exception as exc:  # any NVML/driver failure means "absent", never a guess
        return None, f"NVML energy counter unavailable: {type(exc).__name__}: {exc}"
    # The counter is in millijoules since the driver was loaded.
    return (lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0), None


class ComputeMeter:
    """Accumulates tokens, FLOPs, device/wall seconds and energy per bucket: train (billed), paused,
    eval and checkpoint (reported only)."""

    def __init__(self, flops_per_token: FlopBreakdown, gpu_profile: dict | None = None,
                 price_krw_per_hour: float | None = None, device: Literal["cuda", "cpu"] = "cpu",
                 clock: Callable[[], float] | None = None, energy_reader: EnergyReader | None = None, *,
                 wall_clock: Callable[[], float] = time.perf_counter, head_passes: int = 1,
                 teacher_cost: TokenCost | None = None, phase: str = "train", no_energy: str | None = None):
        """`gpu_profile` may carry `name`, `peak_tflops` (of one device: a GPU, or one CPU core) and
        `peak_source`; without a peak, MFU is None. `clock` gives device-seconds (default: CPU time
        on CPU, wall time on a GPU). `head_passes`: times the loss runs the output head per target.
        `teacher_cost`: a live teacher's forward per input / target token, billed with each step.
        `energy_reader` replaces NVML (tests, other meters); `no_energy` says why none is read
        (e.g. a record rebuilt from saved counts)."""
        self.flops_per_token = flops_per_token
        self.cost = train_token_cost(flops_per_token, head_passes)
        self.head_passes = head_passes
        self.teacher_cost = teacher_cost
        self.gpu_profile = dict(gpu_profile or {})
        self.price_krw_per_hour = price_krw_per_hour
        self.device = device
        self.phase = phase
        self.threads: int | None = None
        self.threads_reason: str | None = None
        self.seq_len: int | None = None
        self.carried: TeacherCharge | None = None     # teacher artefacts this run consumed
        self._clock = clock or device_clock(device)
        self._wall = wall_clock
        if no_energy is not None:
            self._energy, self._energy_reason = None, no_energy
        elif energy_reader is not None:
            self._energy, self._energy_reason = energy_reader, None
        else:
            self._energy, self._energy_reason = open_nvml_energy(device)
        self.tokens = self.target_tokens = 0
        self.total_flops = self.model_flops = self.extra_flops = self.teacher_flops = 0
        self._acc = {b: [0.0, 0.0, 0.0] for b in BUCKETS}     # device s, wall s, joules
        self._bucket: str | None = None                        # None: not started
        self._since = (0.0, 0.0, None)

    # --- timing ---------------------------------------------------------------------------
    def _now(self) -> tuple[float, float, float | None]:
        return self._clock(), self._wall(), (self._energy() if self._energy is not None else None)

    def _switch(self, bucket: str) -> None:
        """Close the open interval into its bucket and open one for `bucket`."""
        now = self._now()
        if self._bucket is not None:
            acc = self._acc[self._bucket]
            acc[0] += now[0] - self._since[0]
            acc[1] += now[1] - self._since[1]
            if now[2] is not None:
                acc[2] += now[2] - self._since[2]
        self._bucket, self._since = bucket, now

    def start(self) -> None:
        if self._bucket is not None:
            raise RuntimeError("ComputeMeter.start() called twice; use resume() after pause()")
        self._switch("train")

    def pause(self) -> None:
        """Stop billing time and energy until resume()."""
        if self._bucket != "train":
            raise RuntimeError(f"pause() while {self._state()}")
        self._switch("paused")

    def resume(self) -> None:
        if self._bucket != "paused":
            raise RuntimeError(f"resume() while {self._state()}")
        self._switch("train")

    @contextmanager
    def section(self, kind: Literal["eval", "checkpoint"]):
        """Time the block as `kind` (reported, not billed), then return to running or paused."""
        if kind not in ("eval", "checkpoint"):
            raise ValueError(f"section kind must be eval or checkpoint, got {kind!r}")
        if self._bucket not in ("train", "paused"):
            raise RuntimeError(f"section({kind}) while {self._state()}")
        previous = self._bucket
        self._switch(kind)
        try:
            yield self
        finally:
            self._switch(previous)

    def _state(self) -> str:
        return {None: "new", "train": "running"}.get(self._bucket, self._bucket)

    # --- counting -------------------------------------------------------------------------
    def add_tokens(self, n: int, extra_flops: int = 0, target_tokens: int = 0) -> None:
        """Count `n` input tokens (blocks) and `target_tokens` (output head) at this meter's costs,
        plus `extra_flops` of other useful work done for them, which also counts toward MFU."""
        if self._bucket != "train":
            raise RuntimeError(f"add_tokens() while {self._state()}: call start()/resume() first")
        if n < 0 or extra_flops < 0 or target_tokens < 0:
            raise ValueError(f"negative count: n={n}, target_tokens={target_tokens}, extra_flops={extra_flops}")
        total, model = self.cost.flops(n, target_tokens)
        teacher = self.teacher_cost.flops(n, target_tokens)[0] if self.teacher_cost else 0
        self.tokens += n
        self.target_tokens += target_tokens
        self.total_flops += total + extra_flops + teacher
        self.model_flops += model + extra_flops + teacher
        self.extra_flops += extra_flops
        self.teacher_flops += teacher

    # --- resumable state ------------------------------------------------------------------
    _COUNTERS = ("tokens", "target_tokens", "total_flops", "model_flops", "extra_flops", "teacher_flops")

    def state_dict(self) -> dict[str, Any]:
        """Counters and per-bucket seconds so far (the open interval included), JSON-serialisable."""
        return {**{k: getattr(self, k) for k in self._COUNTERS}, "buckets": self._buckets_now()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's state: before start(), so the earlier part is added once."""
        if self._bucket is not None:
            raise RuntimeError("load_state_dict() after start()")
        for k in self._COUNTERS:
            setattr(self, k, int(state[k]))
        for b, values in state["buckets"].items():
            self._acc[b] = [float(v) for v in values]

    # --- reporting ------------------------------------------------------------------------
    def _buckets_now(self) -> dict[str, list[float]]:
        out = {b: list(v) for b, v in self._acc.items()}
        if self._bucket is not None:
            now = self._now()
            acc = out[self._bucket]
            acc[0] += now[0] - self._since[0]
            acc[1] += now[1] - self._since[1]
            if now[2] is not None:
                acc[2] += now[2] - self._since[2]
        return out

    def record(self, world_size: int = 1) -> ComputeRecord:
        """This meter as a compute.json record. The loop counts tokens of all processes but times
        one: with N processes the run held N devices for that time, so device-hours and cost are ×N
        and MFU is over N devices' peak."""
        b = self._buckets_now()
        seconds, wall = b["train"][0], b["train"][1]
        per_s = (lambda x: x / seconds) if seconds > 0 else (lambda x: None)
        peak = self.gpu_profile.get("peak_tflops")
        model_tflops = per_s(self.model_flops / 1e12)
        mfu = (model_tflops / peak / world_size) if (peak and model_tflops is not None) else None
        hours = seconds / 3600.0 * world_size
        cost = hours * self.price_krw_per_hour if self.price_krw_per_hour is not None else None
        pflops = self.total_flops / 1e15
        return ComputeRecord(
            phase=self.phase, device=self.device, gpu=self.gpu_profile.get("name"),
            threads=self.threads, threads_reason=self.threads_reason, world_size=world_size,
            tokens=self.tokens, target_tokens=self.target_tokens, seq_len_mean=self.seq_len,
            flops_per_token=self.flops_per_token.to_dict(), head_passes=self.head_passes,
            total_flops=self.total_flops, model_flops=self.model_flops, extra_flops=self.extra_flops,
            teacher_flops=self.teacher_flops, pflops=pflops,
            seconds=seconds, wall_seconds=wall,
            seconds_basis=SECONDS_BASIS_CPU if self.device == "cpu" else SECONDS_BASIS_WALL,
            paused_seconds=b["paused"][0], eval_seconds=b["eval"][0], eval_wall_seconds=b["eval"][1],
            checkpoint_seconds=b["checkpoint"][0], checkpoint_wall_seconds=b["checkpoint"][1],
            tokens_per_s=(self.tokens / wall) if wall > 0 else None,
            achieved_tflops=per_s(self.total_flops / 1e12),   # hardware work, recompute included
            model_tflops=model_tflops, peak_tflops=peak, peak_source=self.gpu_profile.get("peak_source"),
            mfu=mfu, mfu_basis=self.flops_per_token.mfu_basis,
            energy_J=b["train"][2] if self._energy is not None else None, energy_reason=self._energy_reason,
            device_hours=hours, price_krw_per_hour=self.price_krw_per_hour,
            price_basis=self.gpu_profile.get("price_basis"), cost_krw=cost,
            teacher=self.carried, totals=totals_with(pflops, hours, cost, self.carried))

    def snapshot(self) -> dict[str, Any]:
        return self.record().model_dump(mode="json")

    def to_json(self, path: str | Path) -> dict[str, Any]:
        """Write the record to `path` (a compute.json) atomically and return it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_record(path.parent, path.name, self.record())
