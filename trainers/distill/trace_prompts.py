"""Prompts with verifiable gold answers, for trace generation and rejection sampling.

Accepted rows:
* chat rows whose `meta.answer` holds the gold answer (what `data_tools.synth` writes): the prompt
  is every message before the last assistant turn; the answer kind is `meta.answer_kind` if given,
  else number when the answer is numeric, else text; `meta.tolerance` is the relative tolerance;
* MCQA rows (KMMLU layout: question, A-D, answer 1-4; KorMedMCQA: A-E, answer 1-5): the prompt is
  the KMMLU-style question block ending `정답：`, verified as a choice.
Rows with neither are skipped and counted, never silently dropped.

Sources: a JSONL file, a prepared directory (its train.jsonl), `builtin:mcqa/<domain>` (shipped
MCQA), or `synth:<domain>:<n>` (n synthetic train-template problems generated on the spot).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data_tools.atomic import atomic_write_text
from trainers.data.chat_data import SHIPPED, resolve_data_path
from trainers.errors import UserError
from trainers.evaluation.answers import extract_answer, is_correct
from trainers.evaluation.mcqa import build_prompt


@dataclass
class Prompt:
    index: int               # position in the source, the id of the prompt in the output
    messages: list[dict]     # the chat up to the answer
    gold: object
    kind: str                # number | choice | text
    n_choices: int = 4
    rel_tol: float | None = None


def _rows(path: str, seed: int) -> tuple[list[dict], str]:
    if path.startswith("synth:"):
        from data_tools.synth import generate
        parts = path.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise UserError(f"data.path={path}: expected synth:<domain>:<n>, e.g. synth:finance:200")
        return generate(parts[1], int(parts[2]), seed=seed, split="train"), path
    if path.startswith("builtin:mcqa/"):
        file = SHIPPED / "mcqa" / f"{path.split('/', 1)[1]}.jsonl"
        if not file.is_file():
            raise UserError(f"data.path={path}: no shipped MCQA set {file.stem}")
    else:
        file = resolve_data_path(path)[0]
    rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows, str(file)


def _prompt(i: int, row: dict, kind_override: str) -> Prompt:
    if "question" in row and "A" in row:
        letters = "ABCDE" if "E" in row else "ABCD"
        return Prompt(i, [{"role": "user", "content": build_prompt(row, "kormedmcqa" if "E" in row else "kmmlu")}],
                      int(row["answer"]), "choice", len(letters))
    msgs, meta = row.get("messages"), row.get("meta") or {}
    if not isinstance(msgs, list) or "answer" not in meta:
        raise ValueError("neither an MCQA row nor a chat row with meta.answer")
    last = max((k for k, m in enumerate(msgs) if m.get("role") == "assistant"), default=len(msgs))
    prompt = [{"role": m["role"], "content": m["content"]} for m in msgs[:last]]
    if not prompt or prompt[-1]["role"] != "user":
        raise ValueError("the chat does not end in a user turn before its answer")
    gold = meta["answer"]
    kind = meta.get("answer_kind") or ("number" if isinstance(gold, (int, float)) else "text")
    if kind_override != "auto":
        kind = kind_override
    return Prompt(i, prompt, gold, kind, rel_tol=meta.get("tolerance"))


def read_prompts(path: str, seed: int, kind: str = "auto", limit: int | None = None
                 ) -> tuple[list[Prompt], list[dict], str]:
    """-> (prompts, skipped rows as {"line", "reason"}, resolved source)."""
    rows, source = _rows(path, seed)
    prompts, skipped = [], []
    for i, row in enumerate(rows[:limit]):
        try:
            prompts.append(_prompt(i, row, kind))
        except (ValueError, KeyError, TypeError) as e:
            skipped.append({"line": i + 1, "reason": str(e)[:200]})
    if not prompts:
        raise UserError(f"{source}: no row has a gold answer to verify traces against (need meta.answer "
                        f"or MCQA columns); {len(skipped)} rows skipped")
    return prompts, skipped, source


def verify(prompt: Prompt, trace: str, rel_tol: float | None) -> tuple[bool, object]:
    """(is the trace's final answer right?, the extracted value). An unclosed <think> is wrong."""
    got = extract_answer(trace, prompt.kind, prompt.n_choices)
    tol = rel_tol if rel_tol is not None else (prompt.rel_tol if prompt.rel_tol is not None else 1e-2)
    return is_correct(got, prompt.gold, prompt.kind, rel_tol=tol), got.value


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
