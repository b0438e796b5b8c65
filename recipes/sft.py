"""Supervised fine-tuning on chat data: full, LoRA or QLoRA.

    kdtune run sft                                         # tiny model, shipped finance data, CPU
    kdtune run sft --config configs/smoke/tiny_lora.yaml train.max_steps=8
    kdtune run sft --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml data.path=client.jsonl
    kdtune run sft --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml --smoke
    kdtune run sft --config configs/smoke/tiny_lora.yaml --nproc 2      # or: accelerate launch -m recipes.cli run sft ...

trainers.prepare builds the run (auto-fit, session, model and trainable set, chat format, data,
meter); this recipe adds the loss — token-summed cross-entropy on the assistant tokens — and trains.
"""
from __future__ import annotations

from pathlib import Path

from trainers.config.recipes import SFTConfig
from trainers.export import finish_training
from trainers.loop import train
from trainers.losses.sft_loss import SFTLoss
from trainers.prepare import prepare


def run(cfg: SFTConfig, config_stem: str) -> Path:
    with prepare(cfg, config_stem) as p:
        loss = SFTLoss(p.model, p.cfg.train.loss_chunk_size)
        result = train(loss, p.model, p.train_ex, p.eval_ex, p.pad_id, p.cfg.train, p.cfg.eval,
                       p.session.run, p.session.accelerator, resume_from=p.session.resume_from, meter=p.meter)
        finish_training(p.session, p.cfg, p.built, result, p.meter, p.manifest())
        return p.session.run.path
