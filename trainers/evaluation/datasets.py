"""Benchmark items from a `dataset:` string: shipped MCQA, MCQA/chat JSONL, or synthetic tasks.

Two kinds come out. MCQA items keep their KMMLU/KorMedMCQA row (scored by option log-likelihood);
generative items keep the prompt chat and the gold answer with how to compare it (number with a
relative tolerance, option letter, or exact text). `synth-mcqa:<domain>` turns the synthetic test
items into 4-option MCQA whose distractors are the answers of other items of the same task — same
unit, realistic magnitudes, nothing invented — for models too small to write an answer at all.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainers.errors import UserError
from trainers.evaluation.mcqa import LAYOUTS

SHIPPED_MCQA = Path(__file__).resolve().parents[2] / "data_tools" / "shipped" / "mcqa"
ANSWER_MARK = "정답: "     # the synthetic answers' final line


@dataclass
class Benchmark:
    mode: str                       # "mcqa" | "generate"
    source: str                     # what `dataset:` resolved to
    items: list[dict]               # mcqa: KMMLU/KorMedMCQA rows; generate: see _chat_item
    layout: str = "kmmlu"
    dev_pool: list[dict] = field(default_factory=list)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise UserError(f"eval.dataset: file not found: {path}")
    rows = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{no}: not JSON ({e.msg})") from None
    if not rows:
        raise UserError(f"{path}: no rows")
    return rows


def mcqa_layout(row: dict) -> str:
    return "kormedmcqa" if "E" in row and "subject" in row else "kmmlu"


def _mcqa_items(rows: list[dict], source: str) -> list[dict]:
    layout = LAYOUTS[mcqa_layout(rows[0])]
    for i, r in enumerate(rows):
        n_opt = len(layout.letters)
        if not all(k in r for k in ("question", "answer", *layout.letters)) or \
                not 1 <= int(r["answer"]) <= n_opt:
            raise UserError(f"{source} row {i + 1}: an MCQA row needs question, {', '.join(layout.letters)} "
                            f"and answer 1..{n_opt}")
        r.setdefault("id", f"{i:05d}")
    return rows


def _answer_kind(gold: Any) -> str:
    from trainers.evaluation.number_parse import parse_number
    if isinstance(gold, bool):
        return "text"
    if isinstance(gold, (int, float)) or parse_number(str(gold)) is not None:
        return "number"
    return "choice" if str(gold).strip().strip("()") in ("A", "B", "C", "D", "E") else "text"


def _chat_item(i: int, row: dict, source: str) -> dict:
    msgs, meta = row.get("messages"), row.get("meta") or {}
    if not isinstance(msgs, list) or "answer" not in meta:
        raise UserError(f"{source} row {i + 1}: a generative item needs messages and meta.answer")
    last_user = max((j for j, m in enumerate(msgs) if m.get("role") == "user"), default=None)
    if last_user is None:
        raise UserError(f"{source} row {i + 1}: no user message to answer")
    gold = meta["answer"]
    return {"id": str(meta.get("id", f"{i:05d}")), "category": str(meta.get("task") or meta.get("category") or "all"),
            "messages": msgs[:last_user + 1], "gold": gold, "kind": meta.get("answer_kind") or _answer_kind(gold),
            "rel_tol": float(meta.get("tolerance", 1e-2))}


def _synth_rows(domain: str, n: int | None, seed: int) -> list[dict]:
    from data_tools.errors import DataError
    from data_tools.synth import generate
    try:
        return generate(domain, n or 100, seed=seed, split="test")
    except DataError as e:
        raise UserError(f"eval.dataset=synth:{domain}: {e}") from None


def synth_mcqa(rows: list[dict], seed: int) -> list[dict]:
    """4-option MCQA from synthetic items: the right answer line and three other items' answers of
    the same task (distinct values), at a seeded position. Needs ≥ 4 distinct answers per task."""
    rng = random.Random(f"synth-mcqa:{seed}")
    by_task: dict[str, list[tuple[float, str]]] = {}
    for r in rows:
        text = r["messages"][-1]["content"].rsplit(ANSWER_MARK, 1)[-1].strip()
        by_task.setdefault(r["meta"]["task"], []).append((r["meta"]["answer"], text))
    out = []
    for i, r in enumerate(rows):
        task, gold = r["meta"]["task"], r["meta"]["answer"]
        right = r["messages"][-1]["content"].rsplit(ANSWER_MARK, 1)[-1].strip()
        others = sorted({t for a, t in by_task[task] if a != gold and t != right})
        if len(others) < 3:
            raise UserError(f"synth-mcqa: task {task} has too few distinct answers for 3 distractors; "
                            f"raise eval.n")
        options = rng.sample(others, 3)
        pos = rng.randrange(4)
        options.insert(pos, right)
        out.append({"id": f"{i:05d}", "question": r["messages"][0]["content"], "answer": pos + 1,
                    **dict(zip("ABCD", options)), "Category": task})
    return out


def load_benchmark(spec) -> Benchmark:
    """`spec` is a BenchmarkSection; items are cut to spec.n."""
    ds, n = spec.dataset.strip(), spec.n
    if ds.startswith("builtin:mcqa/"):
        name = ds.split("/", 1)[1]
        path = SHIPPED_MCQA / f"{name}.jsonl"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in SHIPPED_MCQA.glob("*.jsonl")))
            raise UserError(f"eval.dataset={ds}: no shipped MCQA set '{name}'; shipped: {known}")
        bench = Benchmark("mcqa", str(path), _mcqa_items(_read_jsonl(path), ds))
    elif ds.startswith("synth-mcqa:"):
        rows = _synth_rows(ds.split(":", 1)[1], n, spec.seed)
        bench = Benchmark("mcqa", ds, synth_mcqa(rows, spec.seed))
    elif ds.startswith("synth:"):
        rows = _synth_rows(ds.split(":", 1)[1], n, spec.seed)
        bench = Benchmark("generate", ds, [_chat_item(i, r, ds) for i, r in enumerate(rows)])
    else:
        path = Path(ds).expanduser()
        rows = _read_jsonl(path)
        if "question" in rows[0]:
            bench = Benchmark("mcqa", str(path), _mcqa_items(rows, str(path)))
        else:
            bench = Benchmark("generate", str(path), [_chat_item(i, r, str(path)) for i, r in enumerate(rows)])
    if bench.mode == "mcqa":
        bench.layout = mcqa_layout(bench.items[0])
        # k-shot examples come from the whole set (build_prompts never uses an item as its own shot)
        bench.dev_pool = _mcqa_items(_read_jsonl(Path(spec.dev_path)), spec.dev_path) if spec.dev_path \
            else list(bench.items)
    bench.items = bench.items[:n] if n else bench.items
    if spec.mode != "auto" and spec.mode != bench.mode:
        raise UserError(f"eval.mode={spec.mode} but {ds} holds {bench.mode} items")
    return bench
