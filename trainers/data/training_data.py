"""The chats a training run reads, checked before any model loads, and the examples it trains on.

`read_sft_rows` runs first (a wrong data.path or a file without one usable row fails in a second);
`load_sft_data` tokenises them with the run's chat format once the tokenizer exists. Used by every
training recipe through trainers.prepare, and by distill-cache (the same examples as distill).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data_tools.datacard import sha256_file
from trainers.data.chat_data import ChatFile, cls_task_of, read_chat_file, resolve_data_path
from trainers.data.sft_data import split_eval, tokenize_chats
from trainers.errors import UserError


@dataclass
class SFTRows:
    """The chats a run trains and validates on, read before any model loads."""
    train_file: Path
    train_rows: ChatFile
    chats: list
    eval_chats: list
    skipped: list


def read_sft_rows(cfg) -> SFTRows:
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


def load_sft_data(cfg, tokenizer, fmt: str, run, rows: SFTRows | None = None) -> tuple[list, list, dict]:
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
