"""What a run spent: tokens, FLOPs, device seconds, energy and won, written to `compute.json`.

The training loop makes one meter with the per-token FLOPs of its method and calls
`add_tokens(n)` after each optimizer step; evaluation runs between `pause()` and `resume()` so its
time is not billed as training (give evaluation its own meter, built from
`forward_flops_per_token`, to count it separately). Energy comes only from NVML's total-energy
counter on the GPU this process uses; where that is missing the value is `null` with the reason —
a number is never estimated from TDP.

Seconds are wall-clock; on CUDA the caller should synchronise before `pause()`/`snapshot()` if
it wants queued kernels counted in the interval that launched them.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Literal

from trainers.flops import FlopBreakdown

EnergyReader = Callable[[], float]  # cumulative joules since some fixed point


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
    """Accumulates tokens, FLOPs, active seconds and energy between start() and snapshot()."""

    def __init__(self, flops_per_token: FlopBreakdown, gpu_profile: dict | None = None,
                 price_krw_per_hour: float | None = None, device: Literal["cuda", "cpu"] = "cpu",
                 clock: Callable[[], float] = time.perf_counter,
                 energy_reader: EnergyReader | None = None):
        """`gpu_profile` may carry `name` and `peak_tflops` (dense bf16/fp16 tensor TFLOPS of one
        device); without a peak, MFU is None. `energy_reader` replaces NVML (tests, other meters)."""
        self.flops_per_token = flops_per_token
        self.gpu_profile = dict(gpu_profile or {})
        self.price_krw_per_hour = price_krw_per_hour
        self.device = device
        self._clock = clock
        if energy_reader is not None:
            self._energy, self._energy_reason = energy_reader, None
        else:
            self._energy, self._energy_reason = open_nvml_energy(device)
        self.tokens = 0
        self.total_flops = 0
        self.model_flops = 0
        self.extra_flops = 0
        self._seconds = 0.0          # closed running intervals
        self._paused_seconds = 0.0   # closed paused intervals
        self._joules = 0.0
        self._since: float | None = None          # start of the current interval
        self._energy_since: float | None = None
        self._state = "new"                       # new -> running <-> paused

    # --- timing ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._state != "new":
            raise RuntimeError("ComputeMeter.start() called twice; use resume() after pause()")
        self._open("running")

    def pause(self) -> None:
        """Stop billing time and energy (e.g. for evaluation) until resume()."""
        if self._state != "running":
            raise RuntimeError(f"pause() while {self._state}")
        now = self._clock()
        self._seconds += now - self._since
        if self._energy is not None:
            self._joules += self._energy() - self._energy_since
        self._since = now
        self._state = "paused"

    def resume(self) -> None:
        if self._state != "paused":
            raise RuntimeError(f"resume() while {self._state}")
        self._paused_seconds += self._clock() - self._since
        self._open("running")

    def _open(self, state: str) -> None:
        self._since = self._clock()
        self._energy_since = self._energy() if self._energy is not None else None
        self._state = state

    # --- counting -------------------------------------------------------------------------
    def add_tokens(self, n: int, extra_flops: int = 0) -> None:
        """Count `n` trained tokens at the per-token breakdown, plus `extra_flops` of other useful
        work done for them (a teacher forward, trace generation), which also counts toward MFU."""
        if self._state != "running":
            raise RuntimeError(f"add_tokens() while {self._state}: call start()/resume() first")
        if n < 0 or extra_flops < 0:
            raise ValueError(f"negative count: n={n}, extra_flops={extra_flops}")
        self.tokens += n
        self.total_flops += n * self.flops_per_token.total + extra_flops
        self.model_flops += n * self.flops_per_token.model_flops_for_mfu + extra_flops
        self.extra_flops += extra_flops

    # --- reporting ------------------------------------------------------------------------
    def _times(self) -> tuple[float, float, float | None]:
        """(running seconds, paused seconds, joules) including the open interval."""
        seconds, paused, joules = self._seconds, self._paused_seconds, self._joules
        if self._state == "running":
            seconds += self._clock() - self._since
            if self._energy is not None:
                joules += self._energy() - self._energy_since
        elif self._state == "paused":
            paused += self._clock() - self._since
        return seconds, paused, (joules if self._energy is not None else None)

    def snapshot(self) -> dict[str, Any]:
        seconds, paused, joules = self._times()
        per_s = (lambda x: x / seconds) if seconds > 0 else (lambda x: None)
        peak = self.gpu_profile.get("peak_tflops")
        model_tflops = per_s(self.model_flops / 1e12)
        device_hours = seconds / 3600.0
        return {
            "device": self.device,
            "gpu": self.gpu_profile.get("name"),
            "tokens": self.tokens,
            "seconds": seconds,
            "paused_seconds": paused,
            "tokens_per_s": per_s(self.tokens),
            "flops_per_token": self.flops_per_token.to_dict(),
            "total_flops": self.total_flops,
            "model_flops": self.model_flops,
            "extra_flops": self.extra_flops,
            "pflops": self.total_flops / 1e15,
            "achieved_tflops": per_s(self.total_flops / 1e12),  # hardware work, recompute included
            "model_tflops": model_tflops,
            "peak_tflops": peak,
            "mfu": (model_tflops / peak) if (peak and model_tflops is not None) else None,
            "mfu_basis": self.flops_per_token.mfu_basis,
            "energy_J": joules,
            "energy_reason": self._energy_reason,
            "device_hours": device_hours,
            "price_krw_per_hour": self.price_krw_per_hour,
            "cost_krw": (device_hours * self.price_krw_per_hour
                         if self.price_krw_per_hour is not None else None),
        }

    def to_json(self, path: str | Path) -> dict[str, Any]:
        """Write the snapshot to `path` (a run's compute.json) and return it."""
        snap = self.snapshot()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(snap, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)  # a reader never sees a half-written file
        return snap
