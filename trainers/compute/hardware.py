"""GPU catalogue: memory, precision support, peak throughput, bandwidth and an hourly price.

Figures are datasheet values for one device (sources: NVIDIA datasheets and architecture
whitepapers, DESIGN.md "Facts"). TFLOPS are *dense* tensor-core rates with fp32 accumulation —
what PyTorch training matmuls use. GeForce cards run fp16/bf16 with fp32 accumulate at half their
advertised fp16-accumulate rate, so e.g. the RTX 4090 is 165, not 330. H100 is the SXM part.

`vram_gib` is the memory the driver reports (nvidia-smi / torch total_memory), not the marketing
"GB": e.g. L4 and A10G show ~22.5 GiB of their "24 GB", T4 ~15 GiB of "16 GB".

Prices are USD per GPU-hour, dated (`PRICE_DATE`), meant to be edited: cloud prices move.
  * data-centre cards: on-demand cloud price we plan with; `price_range_usd` spans specialised GPU
    clouds (low) to hyperscaler on-demand (high), late 2026.
  * consumer cards (RTX): rarely rented from big clouds, so the figure is the community-marketplace
    rental rate for that card (per-GPU listings), i.e. what an hour of it costs someone who does not
    own one. An owner's marginal cost (electricity) is lower; set the price to 0 or your own figure.
KRW = USD × a rate (default 1,400 KRW/USD), which runs pass from their config.
"""
from __future__ import annotations

import dataclasses
import os
import re
import warnings
from dataclasses import dataclass

from trainers.errors import UserError

PRICE_DATE = "2026-11"
DEFAULT_KRW_PER_USD = 1400.0


@dataclass(frozen=True)
class GpuSpec:
    id: str
    name: str
    vram_gib: float             # as reported by the driver; for "cpu", host RAM
    bf16: bool                  # bf16 tensor-core support (Ampere and newer)
    bf16_tflops: float          # dense, fp32 accumulate; 0 where bf16 is unsupported
    fp16_tflops: float          # dense, fp32 accumulate
    fp32_tflops: float          # plain fp32 (non-tensor) rate
    bandwidth_gbs: float        # memory bandwidth, GB/s
    price_usd_hour: float
    price_range_usd: tuple[float, float]
    price_basis: str            # "cloud on-demand" | "community rental" | "cloud VM"
    price_date: str = PRICE_DATE

    def price_krw_hour(self, krw_per_usd: float = DEFAULT_KRW_PER_USD) -> float:
        return self.price_usd_hour * krw_per_usd

    def peak_tflops(self, precision: str) -> float:
        """Peak matmul rate for a training precision ("bf16" | "fp16" | "fp32")."""
        rates = {"bf16": self.bf16_tflops, "fp16": self.fp16_tflops, "fp32": self.fp32_tflops}
        if precision not in rates:
            raise ValueError(f"precision must be bf16, fp16 or fp32, got {precision!r}")
        if precision == "bf16" and not self.bf16:
            raise UserError(f"{self.name} has no bf16; use fp16 (loss-scaled) or fp32")
        return rates[precision]

    def meter_profile(self, precision: str | None = None) -> dict:
        """What trainers.compute.compute_meter.ComputeMeter takes as `gpu_profile`."""
        precision = precision or catalogue_precision(self)
        return {"name": self.name, "id": self.id, "peak_tflops": self.peak_tflops(precision),
                "precision": precision}


def _gpu(id, name, vram, bf16, tf16, fp32, bw, price, lo, hi, basis="cloud on-demand"):
    """Tensor-core bf16 and fp16 (both fp32-accumulate) run at the same rate on these cards."""
    return GpuSpec(id=id, name=name, vram_gib=vram, bf16=bf16, bf16_tflops=tf16 if bf16 else 0.0,
                   fp16_tflops=tf16, fp32_tflops=fp32, bandwidth_gbs=bw, price_usd_hour=price,
                   price_range_usd=(lo, hi), price_basis=basis)


_RENT = "community rental"
CATALOGUE: dict[str, GpuSpec] = {g.id: g for g in (
    # id               name                     VRAM  bf16  fp16 fp32   GB/s  USD/h  range
    _gpu("t4-16gb", "NVIDIA T4", 15.0, False, 65, 8.1, 320, 0.53, 0.35, 0.60),
    _gpu("rtx3060-12gb", "GeForce RTX 3060 12GB", 12.0, True, 25, 12.7, 360, 0.10, 0.06, 0.15, _RENT),
    _gpu("rtx4060-8gb", "GeForce RTX 4060 8GB", 8.0, True, 30, 15.1, 272, 0.10, 0.07, 0.15, _RENT),
    _gpu("rtx4060ti-16gb", "GeForce RTX 4060 Ti 16GB", 16.0, True, 44, 22.1, 288, 0.15, 0.10, 0.20, _RENT),
    _gpu("rtx3090-24gb", "GeForce RTX 3090", 24.0, True, 71, 35.6, 936, 0.25, 0.15, 0.35, _RENT),
    _gpu("rtx4090-24gb", "GeForce RTX 4090", 24.0, True, 165, 82.6, 1008, 0.45, 0.30, 0.70, _RENT),
    _gpu("l4-24gb", "NVIDIA L4", 22.5, True, 121, 30.3, 300, 0.80, 0.70, 0.90),
    # A10G (AWS g5): same memory system as the A10 but half its tensor rate.
    _gpu("a10g-24gb", "NVIDIA A10G", 22.5, True, 70, 31.2, 600, 1.00, 0.75, 1.21),
    _gpu("a100-40gb", "NVIDIA A100 40GB", 40.0, True, 312, 19.5, 1555, 1.30, 1.00, 3.70),
    _gpu("a100-80gb", "NVIDIA A100 80GB", 80.0, True, 312, 19.5, 2039, 2.00, 1.40, 5.10),
    _gpu("h100-80gb", "NVIDIA H100 80GB SXM", 79.6, True, 989, 67.0, 3350, 3.50, 2.70, 12.0),
    # Host CPU: fp32 only; memory is host RAM (detect_gpu measures it). A CPU "device" is one core:
    # runs bill core-seconds (process CPU time, trainers/compute/cpu.py) at a cloud VM's price per vCPU-hour,
    # and MFU uses the calibrated per-core peak; fp32_tflops is only the planner's whole-host guess.
    GpuSpec(id="cpu", name="CPU", vram_gib=24.0, bf16=False, bf16_tflops=0.0, fp16_tflops=0.0,
            fp32_tflops=0.1, bandwidth_gbs=20.0, price_usd_hour=0.025, price_range_usd=(0.015, 0.05),
            price_basis="cloud VM, per core-hour"),
)}


def gpu_ids() -> list[str]:
    return list(CATALOGUE)


def get_gpu(gpu_id: str) -> GpuSpec:
    """By id ("rtx4060-8gb") or its family part when unambiguous ("rtx4060", "t4", "h100")."""
    key = gpu_id.strip().lower()
    if key in CATALOGUE:
        return CATALOGUE[key]
    family = [g for g in CATALOGUE.values() if g.id.split("-")[0] == key]
    if len(family) == 1:
        return family[0]
    hint = f" ({key} matches {', '.join(g.id for g in family)})" if family else ""
    raise UserError(f"unknown GPU {gpu_id!r}{hint}; known: {', '.join(CATALOGUE)}")


def catalogue_precision(gpu: GpuSpec) -> str:
    """What the automatic choice (trainers.models.precision) runs on this catalogue card."""
    from trainers.models.precision import precision_on
    return precision_on("auto", gpu=gpu.id != "cpu", bf16=gpu.bf16)


# Ordered: the first pattern found in the lower-cased device name wins ("4060 ti" before "4060").
_NAME_PATTERNS = [
    (r"h100", "h100-80gb"), (r"a100", "a100"), (r"a10g", "a10g-24gb"), (r"\bl4\b", "l4-24gb"),
    (r"\bt4\b", "t4-16gb"), (r"4060\s*ti", "rtx4060ti-16gb"), (r"4060", "rtx4060-8gb"),
    (r"3060", "rtx3060-12gb"), (r"3090", "rtx3090-24gb"), (r"4090", "rtx4090-24gb"),
]


def match_gpu_name(device_name: str, total_gib: float | None = None) -> tuple[GpuSpec, bool]:
    """Catalogue entry for a CUDA device name, and whether the name was recognised.

    With `total_gib` (the memory the device reports) the entry's VRAM becomes that figure, so a
    laptop RTX 3060 (6 GiB) or an 8 GB RTX 4060 Ti is planned with the memory it really has; an
    unknown card falls back to the catalogued card of closest memory (throughput then approximate).
    """
    lowered = device_name.lower()
    for pattern, gpu_id in _NAME_PATTERNS:
        if re.search(pattern, lowered):
            if gpu_id == "a100":
                gpu_id = "a100-80gb" if (total_gib or 80) > 45 else "a100-40gb"
            spec, known = CATALOGUE[gpu_id], True
            break
    else:
        if total_gib is None:
            return dataclasses.replace(CATALOGUE["t4-16gb"], name=device_name), False
        gpus = [g for g in CATALOGUE.values() if g.id != "cpu"]
        spec, known = min(gpus, key=lambda g: abs(g.vram_gib - total_gib)), False
    if total_gib is not None:
        spec = dataclasses.replace(spec, vram_gib=round(total_gib, 2))
    return dataclasses.replace(spec, name=device_name), known


def host_memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def detect_gpu() -> GpuSpec:
    """The catalogue entry for this process's CUDA device (memory as measured), else `cpu`."""
    import torch

    if not torch.cuda.is_available():
        ram = host_memory_gib()
        return dataclasses.replace(CATALOGUE["cpu"], vram_gib=round(ram, 2)) if ram else CATALOGUE["cpu"]
    device = torch.cuda.current_device()
    name = torch.cuda.get_device_name(device)
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    spec, known = match_gpu_name(name, total)
    if not known:
        has_bf16 = torch.cuda.is_bf16_supported()
        spec = dataclasses.replace(spec, bf16=has_bf16,
                                   bf16_tflops=spec.fp16_tflops if has_bf16 else 0.0)
        warnings.warn(f"GPU {name!r} is not in the catalogue; planning with {spec.id}'s throughput "
                      f"and the measured {total:.1f} GiB. Add it to trainers/compute/hardware.py for "
                      f"accurate step times and prices.", stacklevel=2)
    return spec
