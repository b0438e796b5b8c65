"""Logit distillation: the student learns the teacher's next-token distributions, mixed with CE.

    kdtune run distill                                            # tiny teacher -> tiny student, CPU
    kdtune run distill --config configs/finance/r1-distill-qwen-7b_to_1.5b_logit_16gb.yaml
    kdtune run distill-cache --config configs/smoke/tiny_distill_cache.yaml   # teacher once, offline
    kdtune run distill --config configs/smoke/tiny_distill_cached.yaml        # then no teacher at all

loss = kd.ce_weight * CE + (1 - kd.ce_weight) * KD(kd.loss, kd.temperature), both summed over the
trained (assistant) tokens. The teacher is frozen and run on the fly (optionally 4-bit), or — with
kd.cache_dir — replaced by its cached top-k log-probabilities. Teacher and student must share a
vocabulary; when they do not, the error says to use `kdtune run traces` instead.
"""
from __future__ import annotations

from pathlib import Path

from recipes.sft import SFTRows, check_model_sources, read_sft_rows
from trainers.chat_format import detect_format
from trainers.config.distill import DistillConfig
from trainers.distill_cache import TopKCacheReader
from trainers.distill_setup import check_cache, check_teacher_vocab, load_distill_data, load_teacher
from trainers.export import finish_training
from trainers.loop import train
from trainers.model_sources import provenance
from trainers.losses.distill_loss import CachedTeacher, DistillLoss, LiveTeacher
from trainers.metering import train_meter
from trainers.model_builder import build_model, causal_lm_parts
from trainers.session import open_session


def build_teacher(cfg: DistillConfig, student_tokenizer, student_rows: int, session, data_counts: dict):
    """-> (LiveTeacher | CachedTeacher, KD vocabulary size, facts for the manifest)."""
    if cfg.kd.cache_dir:   # the teacher's weights are never loaded
        reader = TopKCacheReader(cfg.kd.cache_dir)
        check_cache(reader, cfg, student_tokenizer, student_rows, data_counts)
        return CachedTeacher(reader), reader.vocab_size, {"cache_dir": str(reader.dir), "topk": reader.k,
                                                           "teacher": reader.meta["teacher"]}
    # vocabulary first: a mismatch fails before any teacher weight is read
    report, _ = check_teacher_vocab(cfg.kd.teacher, student_tokenizer, student_rows)
    with session.accelerator.local_main_process_first():
        model, source = load_teacher(cfg.kd.teacher, session.compute_dtype, session.device)
    return LiveTeacher(model, cfg.kd.restrict_topk), report.kd_vocab_size, {
        "teacher": source, "teacher_provenance": provenance(source), "teacher_4bit": cfg.kd.teacher.load_in_4bit,
        "vocab": report.summary()}


def run(cfg: DistillConfig, config_stem: str) -> Path:
    # cheap checks first (the config was validated on load): data rows, then where the models come from
    rows = read_sft_rows(cfg)
    check_model_sources(cfg.model, *([] if cfg.kd.cache_dir else [cfg.kd.teacher]))
    with open_session(cfg, config_stem) as session:   # holds the run directory until the run ends
        return train_distill(cfg, session, rows)


def train_distill(cfg: DistillConfig, session, rows: SFTRows) -> Path:
    # student before teacher: its tokenizer defines the examples and the vocabulary check
    with session.accelerator.local_main_process_first():
        built = build_model(cfg.model, cfg.lora, cfg.quant, session.compute_dtype, session.device,
                            cfg.train.gradient_checkpointing)
    fmt = cfg.model.chat_format if cfg.model.chat_format != "auto" else detect_format(built.tokenizer)
    train_ex, eval_ex, data_counts = load_distill_data(cfg, built.tokenizer, fmt, session.run, rows)
    student_rows = causal_lm_parts(built.model)[1].weight.shape[0]
    teacher, kd_vocab, teacher_facts = build_teacher(cfg, built.tokenizer, student_rows, session, data_counts)
    loss = DistillLoss(built.model, teacher, kind=cfg.kd.loss, beta=cfg.kd.beta, temperature=cfg.kd.temperature,
                       ce_weight=cfg.kd.ce_weight, vocab_size=kd_vocab, kd_chunk_size=cfg.kd.chunk_size,
                       ce_chunk_size=cfg.train.loss_chunk_size)
    # DistillLoss runs the student head twice per target (CE and KD); a live teacher's forward is
    # billed with each step; a cache's compute is carried in from its compute.json at the end
    meter = train_meter(built.model, built.method, train_ex, cfg.lora, cfg.train.gradient_checkpointing,
                        cfg.compute, session.precision, head_passes=2,
                        teacher_model=teacher.model if isinstance(teacher, LiveTeacher) else None)
    result = train(loss, built.model, train_ex, eval_ex, built.tokenizer.pad_token_id, cfg.train, cfg.eval,
                   session.run, session.accelerator, resume_from=session.resume_from, meter=meter)
    finish_training(session, cfg, built, result, meter, {
        "chat_format": fmt, "data": data_counts,
        "kd": {"loss": cfg.kd.loss, "temperature": cfg.kd.temperature, "ce_weight": cfg.kd.ce_weight,
               "vocab_size": kd_vocab, **teacher_facts}})
    return session.run.path
