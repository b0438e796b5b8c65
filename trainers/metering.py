"""Build the compute meters recipes hand to the loop and to evaluation, and price the hardware.

Every training recipe (sft, distill, …) calls `train_meter(...)` with its built model and examples
and writes `write_compute(...)` at the end, so compute.json means the same thing in every run
directory: FLOPs counted from the architecture (trainers.flops) × tokens the loop reports, device
seconds between start and pause, energy from NVML or null, and cost = device-hours × price.
"""
from __future__ import annotations

from pathlib import Path

from trainers.arch_spec import ArchSpec
from trainers.compute_meter import ComputeMeter
from trainers.config.sections import ComputeSection
from trainers.flops import FlopBreakdown, train_flops_per_token
from trainers.hardware import detect_gpu, get_gpu


def hardware_profile(compute: ComputeSection, precision: str) -> tuple[dict, float, str]:
    """-> (meter gpu_profile, KRW per device-hour, device type) for this process's hardware."""
    import torch
    gpu = detect_gpu() if compute.gpu == "auto" else get_gpu(compute.gpu)
    if gpu.id == "cpu":
        precision = "fp32"          # the CPU profile only has an fp32 rate
    elif precision == "bf16" and not gpu.bf16:
        precision = "fp16"
    profile = gpu.meter_profile(precision)
    profile["price_basis"] = gpu.price_basis
    profile["price_date"] = gpu.price_date
    price = (compute.price_krw_per_hour if compute.price_krw_per_hour is not None
             else gpu.price_krw_hour(compute.krw_per_usd))
    return profile, price, ("cuda" if torch.cuda.is_available() else "cpu")


def arch_of(model) -> ArchSpec:
    """The FLOP-relevant shape of a plain or PEFT-wrapped transformers model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return ArchSpec.from_hf_config(base.config)


def lora_targets(target_modules) -> list[str] | None:
    """peft's 'all-linear' adapts every block linear but not the head: None in trainers.flops terms."""
    if target_modules is None or target_modules == "all-linear":
        return None
    return list(target_modules)


def mean_seq_len(examples) -> int:
    """Mean tokens per training sequence: the T of the per-token attention term."""
    lengths = [len(e.input_ids) for e in examples]
    return max(1, round(sum(lengths) / len(lengths))) if lengths else 1


def train_meter(model, method: str, examples, lora_cfg, gradient_checkpointing: bool,
                compute: ComputeSection, precision: str) -> ComputeMeter:
    """A meter whose per-token FLOPs match how this run trains (method, rank, targets, recompute)."""
    lora_r = lora_cfg.r if method in ("lora", "qlora") else None
    targets = lora_targets(lora_cfg.target_modules) if lora_r else None
    per_token = train_flops_per_token(arch_of(model), mean_seq_len(examples), method, lora_r, targets,
                                      gradient_checkpointing)
    profile, price, device = hardware_profile(compute, precision)
    meter = ComputeMeter(per_token, profile, price, device)
    meter.seq_len = mean_seq_len(examples)   # recorded so compute.json can be recomputed by hand
    return meter


def forward_only_breakdown(flops_per_token: int, label: str) -> FlopBreakdown:
    """Per-token FLOPs of work with no backward (evaluation), in the meter's breakdown form."""
    return FlopBreakdown(forward=flops_per_token, backward=0, recompute=0, attention=0, adapter=0,
                         total=flops_per_token, model_flops_for_mfu=flops_per_token, method=label,
                         n_matmul_params=0, mfu_basis="2N+4LHQT (forward only)")


def write_compute(run, meter: ComputeMeter, phase: str = "train", world_size: int = 1,
                  extra: dict | None = None) -> dict:
    """compute.json in the run directory (main process only, via RunDir); returns what was written.

    The loop counts tokens of all processes but times one: with N processes the run held N devices
    for that time, so device-hours and cost are ×N and MFU is over N devices' peak.
    """
    snap = meter.snapshot()
    if world_size > 1:
        snap["device_hours"] *= world_size
        snap["cost_krw"] = None if snap["cost_krw"] is None else snap["cost_krw"] * world_size
        snap["mfu"] = None if snap["mfu"] is None else snap["mfu"] / world_size
    snap.update({"phase": phase, "world_size": world_size, "seq_len_mean": getattr(meter, "seq_len", None),
                 **(extra or {})})
    run.write_json("compute.json", snap)
    return snap


def read_compute(run_dir: Path) -> dict | None:
    import json
    f = Path(run_dir) / "compute.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None
