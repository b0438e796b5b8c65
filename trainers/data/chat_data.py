"""Read chat JSONL for training: shipped sets, prepared directories or plain files.

A broken row never stops a run and is never dropped silently: it is skipped, counted, and listed
with its line number and reason (the run writes them to skipped_rows.jsonl).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from trainers.errors import UserError

SHIPPED = Path(__file__).resolve().parents[2] / "data_tools" / "shipped"
ROLES = {"system", "user", "assistant"}


@dataclass
class ChatFile:
    chats: list[list[dict]]
    skipped: list[dict] = field(default_factory=list)   # {"source", "line", "reason"}
    source: str = ""


def cls_task_of(path: str, task: str | None) -> str | None:
    """The classification task a data section trains on: `data.task`, or the domain of a
    builtin:cls/<domain> path (which must agree with data.task when both are set)."""
    from data_tools.cls_tasks import BUILTIN
    if not path.startswith(BUILTIN):
        return task
    domain = path[len(BUILTIN):].split("/")[0]
    if task is not None and task != domain:
        raise UserError(f"data.path={path} is the {domain} task but data.task={task}; drop data.task")
    return domain


def resolve_data_path(path: str) -> tuple[Path, Path | None]:
    """-> (train file, eval file or None). builtin:<domain> names a shipped chat set,
    builtin:cls/<domain> a shipped classification train split (never its test split: that is
    what eval scores, so validation is split off the training rows instead)."""
    from data_tools.cls_tasks import BUILTIN, resolve_cls_path
    from data_tools.errors import DataError
    if path.startswith(BUILTIN):
        try:
            return resolve_cls_path(path if path.count("/") > 1 else path + "/train", split="train"), None
        except DataError as e:
            raise UserError(f"data.path: {e}") from None
    if path.startswith("builtin:"):
        name = path.split(":", 1)[1]
        p = SHIPPED / "sft" / f"{name}.jsonl"
        if not p.is_file():
            known = ", ".join(sorted(f.stem for f in (SHIPPED / "sft").glob("*.jsonl")))
            raise UserError(f"data.path={path}: no shipped set '{name}'; shipped sets: {known}")
        return p, None
    p = Path(path).expanduser()
    if p.is_dir():
        train = p / "train.jsonl"
        if not train.is_file():
            raise UserError(f"data.path={path} is a directory without train.jsonl — expected the output "
                            f"of `kdtune data prepare` (train.jsonl, eval.jsonl, datacard.json)")
        ev = p / "eval.jsonl"
        return train, ev if ev.is_file() else None
    if not p.is_file():
        raise UserError(f"data.path={path}: file not found")
    return p, None


def _as_messages(row, task=None) -> list[dict]:
    """A chat row (`messages`), an instruction row (instruction/input/output) or, with a
    classification task, a {"text", "label"} row as messages."""
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    if "text" in row and "label" in row and "messages" not in row:
        if task is None:
            raise ValueError("a {text, label} classification row: set data.task to its domain "
                             "(manufacturing, finance, healthcare) so it gets that task's prompt")
        if not isinstance(row["text"], str) or not row["text"].strip() or not isinstance(row["label"], str):
            raise ValueError("classification row needs a non-empty text and a string label")
        from data_tools.cls_tasks import nfc, training_chat
        from data_tools.errors import DataError
        try:
            return training_chat({"text": nfc(row["text"]), "label": nfc(row["label"].strip())}, task)
        except DataError as e:
            raise ValueError(str(e)) from None
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty list")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                raise ValueError(f"messages[{i}] needs a role in {sorted(ROLES)}")
            if not isinstance(m.get("content"), str) or not m["content"].strip():
                raise ValueError(f"messages[{i}] ({m['role']}) has empty or non-text content")
        if not any(m["role"] == "assistant" for m in msgs):
            raise ValueError("no assistant message: nothing to train on")
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    if "conversations" in row and "messages" not in row:   # ShareGPT: [{"from": "human"|"gpt"|..., "value"}]
        from data_tools.schema import SHAREGPT_ROLES
        turns = row["conversations"]
        if not isinstance(turns, list) or not turns:
            raise ValueError("'conversations' must be a non-empty list")
        msgs = []
        for i, t in enumerate(turns):
            role = SHAREGPT_ROLES.get(t.get("from")) if isinstance(t, dict) else None
            if role is None:
                raise ValueError(f"conversations[{i}] needs 'from' in {sorted(SHAREGPT_ROLES)}")
            msgs.append({"role": role, "content": t.get("value")})
        return _as_messages({"messages": msgs})
    if "instruction" in row and "output" in row:
        prompt = "\n\n".join(str(row[k]).strip() for k in ("instruction", "input") if row.get(k))
        if not prompt or not str(row["output"]).strip():
            raise ValueError("empty instruction or output")
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": str(row["output"])}]
    raise ValueError("row has neither 'messages', 'conversations' (ShareGPT) nor 'instruction'/'output'")


def read_chat_file(path: Path, allow_empty: bool = False, task: str | None = None) -> ChatFile:
    """All usable chats of a JSONL file; `allow_empty` for optional files such as an eval split;
    `task` (a classification domain) turns {"text", "label"} rows into that task's chats."""
    from data_tools.cls_tasks import get_task
    task = get_task(task) if task else None
    out = ChatFile(chats=[], source=str(path))
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                out.chats.append(_as_messages(json.loads(raw.decode("utf-8")), task))
            except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
                out.skipped.append({"source": str(path), "line": line_no, "reason": str(e)[:200]})
    if not out.chats and not (allow_empty and not out.skipped):
        raise UserError(f"{path}: no usable chat rows ({len(out.skipped)} rows skipped; first problem: "
                        f"{out.skipped[0]['reason'] if out.skipped else 'file is empty'})")
    return out
