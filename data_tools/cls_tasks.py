"""The three domain classification tasks: label sets, prompt wording, and records -> chats.

One prompt builder serves training and evaluation, so a model is asked at test time exactly what it
was taught: `training_chat({"text", "label"}, domain)` is [user, assistant=label] and the evaluator
renders `prompt_chat(domain, text)` (the same user turn) through the same chat renderer and scores
the label as the assistant's answer. The user turn is the instruction, the label list (every label,
always in the same order, so the model picks from what it sees) and the text.

k-shot prompts are multi-turn: solved examples as earlier user/assistant turns, so the answer
position after the last turn looks exactly like the answers before it in every chat format. Only
the first turn carries the instruction and the label list (they would cost ~50 tokens per shot).

Records are {"text": str, "label": one of the task's labels}; text and label are NFC-normalised on
read (Hangul from macOS tools arrives decomposed). No torch here: tokenisation lives in trainers/.
"""
from __future__ import annotations

import hashlib
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from data_tools.errors import DataError

SHIPPED_CLS = Path(__file__).resolve().parent / "shipped" / "cls"
BUILTIN = "builtin:cls/"


@dataclass(frozen=True)
class ClsTask:
    domain: str
    description: str          # what is classified, for reports
    instruction: str          # first line of the user turn
    field: str                # name of the text in the prompt ("검사 메모: ...")
    labels: tuple[str, ...]   # exact strings; order is the order shown in the prompt

    def user_turn(self, text: str, with_instruction: bool = True) -> str:
        body = f"{self.field}: {text.strip()}"
        if not with_instruction:
            return body
        return f"{self.instruction}\n보기: {', '.join(self.labels)}\n\n{body}"


TASKS: dict[str, ClsTask] = {t.domain: t for t in (
    ClsTask("manufacturing", "defect type from an inspection note",
            "다음 검사 메모를 읽고 불량 유형을 보기에서 하나만 골라 그대로 답하세요.", "검사 메모",
            ("스크래치", "찍힘", "치수 불량", "이물", "변색", "크랙", "버", "용접 불량")),
    ClsTask("finance", "category of a customer inquiry",
            "다음 고객 문의를 읽고 문의 분야를 보기에서 하나만 골라 그대로 답하세요.", "고객 문의",
            ("대출", "예금·적금", "카드", "보험", "펀드·투자", "외환·송금", "전자금융사기", "연금")),
    ClsTask("healthcare", "department to refer a patient to",
            "다음 환자 메모를 읽고 진료받을 과를 보기에서 하나만 골라 그대로 답하세요.", "환자 메모",
            ("내과", "정형외과", "피부과", "이비인후과", "안과", "소아청소년과", "산부인과", "정신건강의학과")),
)}


def get_task(domain: str) -> ClsTask:
    if domain not in TASKS:
        raise DataError(f"unknown classification task {domain!r}; known: {', '.join(TASKS)}")
    return TASKS[domain]


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def prompt_chat(task: ClsTask, text: str, shots: Sequence[Mapping] = ()) -> list[dict]:
    """The chat up to (not including) the answer: k solved shots, then the text to classify."""
    msgs: list[dict] = []
    for s in shots:
        msgs += [{"role": "user", "content": task.user_turn(s["text"], with_instruction=not msgs)},
                 {"role": "assistant", "content": s["label"]}]
    msgs.append({"role": "user", "content": task.user_turn(text, with_instruction=not msgs)})
    return msgs


def training_chat(record: Mapping, task: ClsTask) -> list[dict]:
    """A {"text", "label"} record as the chat to train on: the zero-shot prompt, the label as answer."""
    if record["label"] not in task.labels:
        raise DataError(f"label {record['label']!r} is not one of the {task.domain} labels: {list(task.labels)}")
    return prompt_chat(task, record["text"]) + [{"role": "assistant", "content": record["label"]}]


def resolve_cls_path(path: str, split: str = "test") -> Path:
    """builtin:cls/<domain>[/<split>] names a shipped split; anything else is a file path."""
    if path.startswith(BUILTIN):
        parts = path[len(BUILTIN):].split("/")
        domain, split = parts[0], parts[1] if len(parts) > 1 else split
        get_task(domain)
        p = SHIPPED_CLS / domain / f"{split}.jsonl"
        if not p.is_file():
            raise DataError(f"{path}: no shipped file {p} (shipped splits are train and test)")
        return p
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"{path}: file not found")
    return p


def read_records(path: Path, task: ClsTask) -> list[dict]:
    """Every row of a {"text", "label"} JSONL file; a bad row is an error naming its line, since a
    silently dropped test row would change the accuracy being reported."""
    from data_tools.jsonl import text_rows
    rows = []
    for no, row in text_rows(path):
        if not row["text"].strip() or not isinstance(row.get("label"), str):
            raise DataError(f"{path}:{no}: expected {{\"text\": non-empty string, \"label\": string}}")
        label = nfc(row["label"].strip())
        if label not in task.labels:
            raise DataError(f"{path}:{no}: label {row['label']!r} is not one of the {task.domain} labels "
                            f"{list(task.labels)}")
        rows.append({"text": nfc(row["text"]), "label": label})
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def _key(text: str) -> str:
    return " ".join(nfc(text).split())


def select_shots(text: str, pool: Sequence[Mapping], k: int, seed: int) -> list[Mapping]:
    """k solved examples for the item `text`: label-balanced, seeded, never the item itself.

    Labels are visited round-robin in a shuffled order and one unused example is taken from each,
    so k <= #labels gives k distinct labels; the choice never looks at the item's own label (that
    would leak the answer). The seed mixes in the item's text, so every item gets its own shots and
    the same item gets the same shots in every run and every order.
    """
    if k <= 0:
        return []
    own = _key(text)
    by_label: dict[str, list[Mapping]] = {}
    for row in pool:
        if _key(row["text"]) != own:     # an item is never its own shot, even if the pool holds it
            by_label.setdefault(row["label"], []).append(row)
    rng = random.Random(f"{seed}:{hashlib.sha256(own.encode()).hexdigest()}")
    for rows in by_label.values():
        rng.shuffle(rows)
    labels = sorted(by_label)
    rng.shuffle(labels)
    shots: list[Mapping] = []
    while len(shots) < k and any(by_label.values()):
        for label in labels:
            if by_label[label] and len(shots) < k:
                shots.append(by_label[label].pop())
    if len(shots) < k:
        raise DataError(f"k_shot={k} but the shot pool has only {len(shots)} usable examples")
    rng.shuffle(shots)   # the last shot's label must not follow a fixed pattern
    return shots
