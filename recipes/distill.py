"""Logit distillation: the student learns the teacher's next-token distributions, mixed with CE.

    kdtune run distill                                            # tiny teacher -> tiny student, CPU
    kdtune run distill --config configs/finance/r1-distill-qwen-7b_to_1.5b_logit_16gb.yaml
    kdtune run distill-cache --config configs/smoke/tiny_distill_cache.yaml   # teacher once, offline
    kdtune run distill --config configs/smoke/tiny_distill_cached.yaml        # then no teacher at all

loss = kd.ce_weight * CE + (1 - kd.ce_weight) * KD(kd.loss, kd.temperature), both summed over the
trained (assistant) tokens. The teacher is frozen and run on the fly (optionally 4-bit), or — with
kd.cache_dir — replaced by its cached top-k log-probabilities. Teacher and student must share a
vocabulary; when they do not, the error says to use `kdtune run traces` instead. trainers.prepare
builds student, data, teacher and meter (train.auto_fit counts the teacher or the cache).
"""
from __future__ import annotations

from pathlib import Path

from trainers.config.distill import DistillConfig
from trainers.distill.distill_loss import DistillLoss
from trainers.export import finish_training
from trainers.loop import train
from trainers.prepare import prepare


def run(cfg: DistillConfig, config_stem: str) -> Path:
    # DistillLoss runs the student head twice per target (CE and KD): the meter bills both passes;
    # a live teacher's forward is billed with each step, a cache's compute carried in at the end
    with prepare(cfg, config_stem, head_passes=2) as p:
        kd = p.cfg.kd
        loss = DistillLoss(p.model, p.teacher, kind=kd.loss, beta=kd.beta, temperature=kd.temperature,
                           ce_weight=kd.ce_weight, vocab_size=p.kd_vocab, kd_chunk_size=kd.chunk_size,
                           ce_chunk_size=p.cfg.train.loss_chunk_size)
        result = train(loss, p.model, p.train_ex, p.eval_ex, p.pad_id, p.cfg.train, p.cfg.eval,
                       p.session.run, p.session.accelerator, resume_from=p.session.resume_from, meter=p.meter)
        finish_training(p.session, p.cfg, p.built, result, p.meter, {
            **p.manifest(), "kd": {"loss": kd.loss, "temperature": kd.temperature, "ce_weight": kd.ce_weight,
                                   "vocab_size": p.kd_vocab, **p.teacher_facts}})
        return p.session.run.path
