"""The final answer of a generated output: after `</think>`, from Korean (or drifted) phrasing.

Where the answer is looked for, in order, inside the text after the last `</think>`:
1. the last `\\boxed{...}` (R1 distills are trained to box final answers);
2. the last answer cue that has a candidate on its line (or on the next non-empty line when the
   cue ends its line): `정답: 3`, `정답은 3번입니다`, `답: ₩12,000`, `따라서 답은 (B)`, `최종 답: 약 …`,
   drift such as `The answer is C` or `答案是 B`; the first candidate after the cue counts, so
   `정답은 3번입니다. 2번은 …` gives 3;
3. otherwise the last candidate in the text (`… 12,000원입니다`, `… ②`), where for choices only
   unambiguous forms count (`3번`, `②`, `(B)`, `B)`, or an answer that is just `B`/`3`).
A `<think>` that never closes means the model ran out of tokens while reasoning: no answer, and the
item is counted wrong rather than guessed from the reasoning.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from trainers.evaluation.number_parse import find_numbers, normalise, parse_number

Kind = Literal["number", "choice", "text"]
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

# Circled digits ①–⑩, dingbat ❶–❿ and ➀–➉, each mapped to 1..10.
CIRCLED = {chr(base + i): i + 1 for base in (0x2460, 0x2776, 0x2780) for i in range(10)}
_CIRCLED_CLASS = "".join(CIRCLED)
LETTERS = "ABCDE"

# Cue words must be followed by a connector, so that "정답을 구하기 위해 1000 × 12 …" is no cue.
_CUE_RE = re.compile(
    r"(?:(?:최종\s*)?(?:정\s*)?답(?!변)[\s*]*(?:은|는|이|:|=)"
    r"|(?i:(?:final\s+)?answer)[\s*]*(?i:is|:|=)"
    r"|(?:最终)?答案\s*(?:是|为|:)|故选|应选)[\s*:]*"
)
# Choice forms, most specific first; each pattern has one group holding the digit/letter/symbol.
_CHOICE_STRICT = [
    rf"([{_CIRCLED_CLASS}])",
    r"(?<![0-9.])([0-9]{1,2})\s*번(?!째)",     # "3번" but not "3번째" (third)
    r"\(\s*([A-Ea-e1-9])\s*\)",
    r"(?<![A-Za-z])([A-E])\)",
]
_CHOICE_LOOSE = _CHOICE_STRICT + [
    r"(?<![A-Za-z])([A-E])(?![A-Za-z])",
    r"(?<![0-9.,])([0-9]{1,2})(?![0-9.,])",
]
_ALONE_RE = re.compile(r"^[\s*(\[]*([A-Ea-e]|[0-9]{1,2}|[" + _CIRCLED_CLASS + r"])[\s*).\]。.]*$")


@dataclass(frozen=True)
class Extracted:
    value: Any          # float for numbers, 1-based int for choices, str for text; None if not found
    raw: str            # the text the value was read from
    found: bool
    source: str = ""    # "boxed" | "cue" | "last" | "unclosed-think" | "empty" | "none"


def answer_region(text: str) -> str | None:
    """The text after the last `</think>`; None if a `<think>` was opened and never closed."""
    if THINK_CLOSE in text:
        return text.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in text:
        return None
    return text


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, with nested braces balanced."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def _choice_value(token: str) -> int:
    if token in CIRCLED:
        return CIRCLED[token]
    if token.upper() in LETTERS:
        return LETTERS.index(token.upper()) + 1
    return int(token)


def _first_choice(segment: str, patterns: list[str]) -> tuple[int, str] | None:
    best = None
    for pat in patterns:
        m = re.search(pat, segment)
        if m and (best is None or m.start() < best.start()):
            best = m
    return (_choice_value(best.group(1)), best.group(0)) if best else None


def _last_choice(segment: str) -> tuple[int, str] | None:
    alone = _ALONE_RE.match(segment)
    if alone:
        return _choice_value(alone.group(1)), alone.group(1)
    best = None
    for pat in _CHOICE_STRICT:
        for m in re.finditer(pat, segment):
            if best is None or m.start() > best.start():
                best = m
    return (_choice_value(best.group(1)), best.group(0)) if best else None


def _clean_text(segment: str) -> str:
    segment = re.sub(r"\\text\{([^}]*)\}", r"\1", segment).strip().strip("*").strip()
    return re.sub(r"\s*(입니다|이다|다)?\s*[.。!]*$", "", segment).strip()


def _read(segment: str, kind: Kind, mode: str) -> tuple[Any, str] | None:
    """A (value, raw) candidate from a segment: first one after a cue, last one otherwise."""
    if kind == "number":
        nums = find_numbers(segment)
        if not nums:
            return None
        n = nums[0] if mode == "first" else nums[-1]
        return n.value, n.raw
    if kind == "choice":
        return _first_choice(segment, _CHOICE_LOOSE) if mode == "first" else _last_choice(segment)
    text = _clean_text(segment)
    return (text, segment.strip()) if text else None


def _cue_segments(region: str) -> list[str]:
    """For each answer cue, last first: the rest of its line, or the next non-empty line."""
    segments = []
    for m in reversed(list(_CUE_RE.finditer(region))):
        rest = region[m.end():]
        line = rest.split("\n", 1)[0]
        if not line.strip(" *:"):
            line = next((ln for ln in rest.split("\n") if ln.strip(" *:")), "")
        segments.append(line)
    return segments


def extract_answer(text: str, kind: Kind, n_choices: int = 4) -> Extracted:
    """Find the final answer of one model output (see the module docstring for the order)."""
    if kind not in ("number", "choice", "text"):
        raise ValueError(f"kind must be number, choice or text, got {kind!r}")
    region = answer_region(normalise(text))
    if region is None:
        return Extracted(None, "", False, "unclosed-think")
    if not region.strip():
        return Extracted(None, "", False, "empty")
    tries: list[tuple[str, str, str]] = []
    boxed = _last_boxed(region)
    if boxed is not None:
        tries.append(("boxed", boxed, "first"))
    tries += [("cue", seg, "first") for seg in _cue_segments(region)]
    if kind != "text":  # free text with no cue and no box: the whole region is too vague
        tries.append(("last", region, "last"))
    for source, segment, mode in tries:
        got = _read(segment, kind, mode)
        if got is None:
            continue
        value, raw = got
        if kind == "choice" and not 1 <= value <= n_choices:
            return Extracted(None, raw, False, source)  # "정답: 7" of four options is wrong, not 3
        return Extracted(value, raw, True, source)
    return Extracted(None, "", False, "none")


def _gold_choice(gold: Any) -> int:
    if isinstance(gold, int):
        return gold
    token = normalise(str(gold)).strip().strip("()")
    return _choice_value(token)


def _norm_text(s: str) -> str:
    return re.sub(r"\s+", " ", _clean_text(normalise(s))).casefold().strip(" '\"")


def is_correct(extracted: Extracted, gold: Any, kind: Kind, rel_tol: float = 1e-2,
               abs_tol: float = 1e-6) -> bool:
    """Whether an extraction matches the gold answer; a missing answer is simply wrong.

    Numbers match within `rel_tol` (relative) or `abs_tol`; gold may be a number or a string such
    as "₩12,000". Choices compare 1-based, gold given as 3, "3", "C" or "③". Text compares after
    whitespace, case, quotes and a trailing "입니다" are normalised.
    """
    if not extracted.found:
        return False
    if kind == "number":
        g = gold if isinstance(gold, (int, float)) else parse_number(gold)
        if g is None:
            raise ValueError(f"gold answer {gold!r} holds no single number")
        return math.isclose(float(extracted.value), float(g), rel_tol=rel_tol, abs_tol=abs_tol)
    if kind == "choice":
        return extracted.value == _gold_choice(gold)
    return _norm_text(str(extracted.value)) == _norm_text(str(gold))
