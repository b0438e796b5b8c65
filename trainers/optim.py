"""Optimizer and learning-rate schedule."""
from __future__ import annotations

import math

import torch

from trainers.errors import UserError


def make_optimizer(params: list[torch.nn.Parameter], name: str, lr: float, weight_decay: float):
    if not params:
        raise UserError("nothing to train: no parameter requires a gradient (check lora.target_modules)")
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999))
    try:
        import bitsandbytes as bnb
    except ImportError:
        raise UserError(f"train.optimizer={name} needs bitsandbytes: pip install bitsandbytes") from None
    cls = bnb.optim.PagedAdamW8bit if name == "paged_adamw_8bit" else bnb.optim.AdamW8bit
    return cls(params, lr=lr, weight_decay=weight_decay)


def cosine_with_warmup(optimizer, warmup_steps: int, total_steps: int, min_ratio: float):
    """Linear warm-up to lr, then cosine decay to min_ratio·lr at total_steps."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
