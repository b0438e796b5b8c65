"""Training precision from the hardware: bf16 where supported, fp16 + loss scaling where not, fp32 on CPU."""
from __future__ import annotations

import torch

from trainers.errors import UserError

COMPUTE_DTYPE = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def choose_precision(requested: str, device: torch.device) -> str:
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            raise UserError(f"train.precision={requested} needs a GPU; this run is on {device.type} "
                            f"(use precision auto or fp32)")
        return "fp32"
    bf16_ok = torch.cuda.is_bf16_supported()
    if requested == "auto":
        return "bf16" if bf16_ok else "fp16"   # T4 and older: fp16 with GradScaler
    if requested == "bf16" and not bf16_ok:
        raise UserError(f"train.precision=bf16 but {torch.cuda.get_device_name(device)} has no bf16; "
                        f"use fp16 (loss-scaled) or auto")
    return requested


def accelerate_mixed_precision(precision: str) -> str:
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
