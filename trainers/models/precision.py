"""The one place precision is decided: bf16 where the device has it, fp16 + loss scaling where
not (T4 and older), fp32 on CPU. Training (session), inference (eval, traces, teacher caching), the
compute meter and the planner (catalogue GPUs) all ask here, so they cannot disagree.

Torch is imported only where a torch dtype or device is needed: the planner and `kdtune plan` use
the rule on catalogue GPUs without loading torch."""
from __future__ import annotations

from typing import TYPE_CHECKING

from trainers.errors import UserError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("bf16", "fp16", "fp32")


def precision_on(requested: str, *, gpu: bool, bf16: bool) -> str:
    """The precision a device runs for `requested` ("auto" or one of PRECISIONS), without
    complaint: fp32 without a GPU, bf16 only where the card has it (else fp16)."""
    if not gpu:
        return "fp32"
    if requested in ("auto", "bf16"):
        return "bf16" if bf16 else "fp16"
    return requested


def choose_precision(requested: str, device: "torch.device") -> str:
    """The training precision on this process's device; an explicit request the device cannot
    honour is the user's to fix, not silently changed."""
    import torch
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            raise UserError(f"train.precision={requested} needs a GPU; this run is on {device.type} "
                            f"(use precision auto or fp32)")
        return "fp32"
    bf16_ok = torch.cuda.is_bf16_supported()
    if requested == "bf16" and not bf16_ok:
        raise UserError(f"train.precision=bf16 but {torch.cuda.get_device_name(device)} has no bf16; "
                        f"use fp16 (loss-scaled) or auto")
    return precision_on(requested, gpu=True, bf16=bf16_ok)


def inference_setup() -> tuple[str, "torch.dtype", "torch.device"]:
    """(precision, dtype, device) for evaluation and generation: the automatic choice."""
    import torch
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = choose_precision("auto", device)
    return precision, torch_dtype(precision), device


def torch_dtype(name: str) -> "torch.dtype":
    """The one dtype map: "bf16" | "fp16" | "fp32" -> torch dtype."""
    import torch
    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if name not in table:
        raise UserError(f"unknown precision/dtype {name!r}; use one of {', '.join(PRECISIONS)}")
    return table[name]


def accelerate_mixed_precision(precision: str) -> str:
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]


def __getattr__(name: str):
    # COMPUTE_DTYPE[name] is the dict form of torch_dtype for existing callers; built on first use
    # so that importing this module does not import torch.
    if name == "COMPUTE_DTYPE":
        return {p: torch_dtype(p) for p in PRECISIONS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
