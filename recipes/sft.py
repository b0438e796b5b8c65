"""Supervised fine-tuning on chat data: full, LoRA or QLoRA.

    kdtune run sft                                         # tiny model, shipped finance data, CPU
    kdtune run sft --config configs/smoke/tiny_lora.yaml train.max_steps=8
    kdtune run sft --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml data.path=client.jsonl
    kdtune run sft --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml --smoke
    kdtune run sft --config configs/smoke/tiny_lora.yaml --nproc 2      # or: accelerate launch -m recipes.cli run sft ...
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from data_tools.datacard import sha256_file
from trainers.chat_data import ChatFile, cls_task_of, read_chat_file, resolve_data_path
from trainers.chat_format import detect_format
from trainers.config.recipes import SFTConfig
from trainers.errors import UserError
from trainers.export import finish_training
from trainers.loop import train
from trainers.metering import train_meter
from trainers.losses.sft_loss import SFTLoss
from trainers.model_builder import build_model
from trainers.model_loading import resolve_model_source
from trainers.session import open_session
from trainers.sft_data import split_eval, tokenize_chats


@dataclass
class SFTRows:
    """The chats a run trains and validates on, read before any model loads."""
    train_file: Path
    train_rows: ChatFile
    chats: list
    eval_chats: list
    skipped: list


def read_sft_rows(cfg: SFTConfig) -> SFTRows:
    """Data paths and rows, checked first: a wrong data.path or a file without one usable row is a
    UserError in a second, not after the model has loaded."""
    train_file, eval_file = resolve_data_path(cfg.data.path)
    task = cls_task_of(cfg.data.path, cfg.data.task)   # classification rows -> the eval's prompt
    train_rows = read_chat_file(train_file, task=task)
    chats = train_rows.chats[: cfg.data.max_examples]
    skipped = list(train_rows.skipped)
    if cfg.data.eval_path or eval_file:
        # a prepared directory's eval.jsonl may be empty (small data): then there is no validation loss
        eval_rows = read_chat_file(resolve_data_path(cfg.data.eval_path)[0] if cfg.data.eval_path else eval_file,
                                   allow_empty=not cfg.data.eval_path, task=task)
        eval_chats, skipped = eval_rows.chats, skipped + eval_rows.skipped
    else:
        chats, eval_chats = split_eval(chats, cfg.data.eval_fraction, cfg.train.seed)
    return SFTRows(train_file, train_rows, chats, eval_chats, skipped)


def check_model_sources(*models) -> None:
    """Each model is a local directory, cached, or its hub reachable now — else the how-to-copy-it
    error at once (tiny models are built later, once per node, with the model)."""
    for m in models:
        if not m.path.startswith("tiny:"):
            resolve_model_source(m.path, m.revision)


def load_sft_data(cfg: SFTConfig, tokenizer, fmt: str, run, rows: SFTRows | None = None) -> tuple[list, list, dict]:
    """Training and validation examples plus the counts that go into the manifest."""
    rows = rows or read_sft_rows(cfg)
    train_file, train_rows, chats, eval_chats, skipped = (rows.train_file, rows.train_rows, rows.chats,
                                                          rows.eval_chats, rows.skipped)
    args = (tokenizer, fmt, cfg.data.max_seq_len, cfg.data.keep_think, cfg.data.system_prompt)
    train_ex, empty_train = tokenize_chats(chats, *args)
    eval_ex, empty_eval = tokenize_chats(eval_chats, *args)
    if skipped:
        run.write_text("skipped_rows.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in skipped))
    if not train_ex:
        raise UserError(f"no training example has an assistant token within data.max_seq_len="
                        f"{cfg.data.max_seq_len}; raise it or check the data")
    counts = {"train_file": str(train_file), "train_sha256": sha256_file(train_file),
              "rows_read": len(train_rows.chats) + len(train_rows.skipped), "rows_skipped": len(skipped),
              "train_examples": len(train_ex), "eval_examples": len(eval_ex),
              "dropped_no_target_after_truncation": empty_train + empty_eval,
              "train_target_tokens": sum(e.n_targets for e in train_ex)}
    return train_ex, eval_ex, counts


def fit_to_gpu(cfg):
    """train.auto_fit: the planner picks micro-batch / accumulation (same global batch) for this GPU."""
    import torch
    if not cfg.train.auto_fit:
        return cfg
    if not torch.cuda.is_available():
        print("train.auto_fit: no GPU here, settings kept as configured")
        return cfg
    from recipes.plan import apply_auto_fit
    return apply_auto_fit(cfg, world_size=int(os.environ.get("WORLD_SIZE", "1")))


def run(cfg: SFTConfig, config_stem: str) -> Path:
    cfg = fit_to_gpu(cfg)   # before the session writes config.yaml, so it records what ran
    # cheap checks first (the config was validated on load): data rows, then where the model comes from
    rows = read_sft_rows(cfg)
    check_model_sources(cfg.model)
    with open_session(cfg, config_stem) as session:   # holds the run directory until the run ends
        return train_sft(cfg, session, rows)


def train_sft(cfg: SFTConfig, session, rows: SFTRows) -> Path:
    with session.accelerator.local_main_process_first():   # one download / tiny build per node
        built = build_model(cfg.model, cfg.lora, cfg.quant, session.compute_dtype, session.device,
                            cfg.train.gradient_checkpointing)
    fmt = cfg.model.chat_format if cfg.model.chat_format != "auto" else detect_format(built.tokenizer)
    train_ex, eval_ex, data_counts = load_sft_data(cfg, built.tokenizer, fmt, session.run, rows)
    if data_counts["rows_skipped"] and session.accelerator.is_main_process:
        print(f"warning: {data_counts['rows_skipped']} data rows skipped (reasons in "
              f"{session.run.path / 'skipped_rows.jsonl'})")
    loss = SFTLoss(built.model, cfg.train.loss_chunk_size)
    meter = train_meter(built.model, built.method, train_ex, cfg.lora, cfg.train.gradient_checkpointing,
                        cfg.compute, session.precision)
    result = train(loss, built.model, train_ex, eval_ex, built.tokenizer.pad_token_id, cfg.train, cfg.eval,
                   session.run, session.accelerator, resume_from=session.resume_from, meter=meter)
    finish_training(session, cfg, built, result, meter, {"chat_format": fmt, "data": data_counts})
    return session.run.path
