"""What `distill` and `distill-cache` share: the same examples (with stable ids), the teacher, the
vocabulary check, and the fingerprints that tie a cache to the exact data and vocabulary it serves.

A cache is only valid for the examples it was computed on, token for token: the cache run and the
training run both call `load_distill_data` with the same config sections, and the cache records
`examples_sha256` of the result, which the training run recomputes and compares.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from trainers.config.distill import DistillConfig, TeacherSection
from trainers.distill.vocab_check import check_vocab_compatibility
from trainers.errors import UserError
from trainers.models.model_builder import load_base_model, load_tokenizer
from trainers.models.model_loading import load_pretrained, resolve_model_source

# Eval examples are cached too (the loop evaluates the same loss); their ids start here so they
# never collide with training ids.
EVAL_ID_OFFSET = 1_000_000_000


def load_distill_data(cfg: DistillConfig, tokenizer, fmt: str, run, rows=None) -> tuple[list, list, dict]:
    """The SFT recipe's examples, eval ids moved past EVAL_ID_OFFSET, plus their fingerprint.
    `rows`: trainers.data.training_data.read_sft_rows(cfg) when the caller already read (and checked) them."""
    from trainers.data.training_data import load_sft_data
    train_ex, eval_ex, counts = load_sft_data(cfg, tokenizer, fmt, run, rows)
    for e in eval_ex:
        e.example_id += EVAL_ID_OFFSET
    counts["examples_sha256"] = examples_sha256(train_ex + eval_ex)
    return train_ex, eval_ex, counts


def examples_sha256(examples: list) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(json.dumps([e.example_id, e.input_ids, e.labels]).encode())
    return h.hexdigest()


def vocab_sha256(tokenizer, size: int) -> str:
    """Fingerprint of ids [0, size) -> token strings: lets a cached run check the student's
    vocabulary against the teacher's without loading the teacher."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    return hashlib.sha256(json.dumps(tokens, ensure_ascii=False).encode()).hexdigest()


def _head_rows(teacher: TeacherSection) -> int:
    from transformers import AutoConfig
    source, local_only = resolve_model_source(teacher.path, teacher.revision)
    config = load_pretrained(AutoConfig, source, local_only, revision=teacher.revision,
                             trust_remote_code=teacher.trust_remote_code)
    return config.get_text_config().vocab_size


def check_teacher_vocab(teacher: TeacherSection, student_tokenizer, student_rows: int):
    """Tokenizer + config only (seconds), so a mismatch fails before 7B weights are loaded.
    -> (VocabReport, teacher tokenizer)."""
    t_tok = load_tokenizer(teacher)
    return check_vocab_compatibility(t_tok, student_tokenizer, _head_rows(teacher), student_rows), t_tok


def load_teacher(teacher: TeacherSection, compute_dtype: torch.dtype, device: torch.device):
    """The frozen teacher in the compute dtype (NF4 when teacher.load_in_4bit), eval mode, no grads."""
    if teacher.load_in_4bit and device.type != "cuda":
        print("note: kd.teacher.load_in_4bit on CPU — bitsandbytes runs, but slowly")
    model, source = load_base_model(teacher, compute_dtype, device, teacher.quant())
    model.config.use_cache = False
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, source


def cache_meta(cfg: DistillConfig, teacher_source: str, kd_vocab_size: int, vocab_digest: str,
               data_counts: dict, fmt: str) -> dict:
    """What a cache records about itself; `check_cache` compares the fields marked as binding."""
    return {"teacher": cfg.kd.teacher.path, "teacher_source": teacher_source,
            "teacher_revision": cfg.kd.teacher.revision, "teacher_4bit": cfg.kd.teacher.load_in_4bit,
            "vocab_size": kd_vocab_size, "temperature": cfg.kd.temperature,
            "vocab_sha256": vocab_digest, "examples_sha256": data_counts["examples_sha256"],
            "train_sha256": data_counts["train_sha256"], "chat_format": fmt,
            "n_train": data_counts["train_examples"], "n_eval": data_counts["eval_examples"]}


def check_cache(reader, cfg: DistillConfig, student_tokenizer, student_rows: int, data_counts: dict) -> None:
    """A cache built for other data, another vocabulary or another temperature is a UserError."""
    meta, where = reader.meta, Path(reader.dir)
    rebuild = ("rebuild it with `kdtune run distill-cache` (same data and kd settings), or point "
               "kd.cache_dir elsewhere")
    if meta.get("examples_sha256") != data_counts["examples_sha256"]:
        raise UserError(f"the top-k cache {where} was built from other training examples (data file, "
                        f"max_seq_len, split seed, chat format or tokenizer differ); {rebuild}")
    if reader.vocab_size > student_rows:
        raise UserError(f"the top-k cache {where} covers {reader.vocab_size} token ids, the student "
                        f"head has {student_rows}; {rebuild}")
    if meta.get("vocab_sha256") != vocab_sha256(student_tokenizer, reader.vocab_size):
        raise UserError(f"the student's vocabulary differs from the teacher's that built {where}. "
                        "Logit distillation needs the same token ids; use trace distillation instead "
                        "(`kdtune run traces`).")
    if abs(reader.temperature - cfg.kd.temperature) > 1e-6:
        raise UserError(f"the top-k cache {where} holds teacher log-probs at temperature "
                        f"{reader.temperature}, but kd.temperature={cfg.kd.temperature}; set "
                        f"kd.temperature={reader.temperature} or {rebuild}")


def build_teacher(cfg: DistillConfig, student_tokenizer, student_rows: int, session, data_counts: dict):
    """-> (LiveTeacher | CachedTeacher, KD vocabulary size, facts for the manifest). A cache is
    checked against the examples just built (`data_counts`), so the teacher comes after the data."""
    from trainers.distill.distill_cache import TopKCacheReader
    from trainers.distill.distill_loss import CachedTeacher, LiveTeacher
    from trainers.models.model_sources import provenance
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
