"""The parts every synthetic task is built from: Task, Template, Solution, and Korean formatting.

A task samples its inputs (`sample`), computes the answer with the worked steps (`solve`), and owns
several wording templates. Each template belongs to exactly one split, so a test set built from
test-only templates measures whether a model learned the arithmetic rather than the wording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Solution:
    """The answer as the question's rounding rule asks for it, plus the worked steps."""

    answer: float  # already rounded by the rule stated in the question
    unit: str  # shown after the number in the final line, e.g. "원", "mL/h"
    decimals: int  # digits after the decimal point in the final line
    steps: tuple[str, ...]  # Korean reasoning lines: formula first, then the numbers
    tolerance: float = 0.01  # relative tolerance a grader should allow


@dataclass(frozen=True)
class Template:
    id: str  # "<domain>.<task>.t<k>", stable: datacards and eval reports refer to it
    split: str  # "train" or "test"
    render: Callable[[dict], str]
    # Extra first reasoning step for wordings that give an input indirectly (e.g. shift and break
    # instead of planned time), so the worked reasoning only uses numbers the question states.
    note: Callable[[dict], str] | None = None


@dataclass(frozen=True)
class Task:
    domain: str
    name: str
    sample: Callable[[random.Random], dict]
    solve: Callable[[dict], Solution]
    templates: tuple[Template, ...]

    def __post_init__(self):
        # Checked at import time so a mis-declared task fails every test, not one random seed.
        splits = {t.split for t in self.templates}
        if len(self.templates) < 4 or splits != set(SPLITS):
            raise ValueError(f"{self.domain}.{self.name}: need >= 4 templates covering {SPLITS}")

    def templates_for(self, split: str | None) -> tuple[Template, ...]:
        return tuple(t for t in self.templates if split is None or t.split == split)


def templates(prefix: str, *specs: tuple) -> tuple[Template, ...]:
    """Number templates in declaration order: templates("finance.vat", ("train", render), ...);
    a spec may carry a third item, the template's `note`."""
    return tuple(Template(f"{prefix}.t{k}", *spec) for k, spec in enumerate(specs, 1))


# --- numbers ---------------------------------------------------------------------------------

def round_half_up(x: float, decimals: int = 0) -> float:
    """School rounding (2.5 -> 3), which is what '반올림' means; Python's round() is banker's."""
    q = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP))


def fixed(x: float, decimals: int) -> str:
    """Thousands separators and exactly `decimals` digits: fixed(12345.6, 2) -> '12,345.60'."""
    return f"{x:,.{decimals}f}"


def num(x: float) -> str:
    """An input value as a person would write it: commas, no trailing zeros ('3.50' -> '3.5')."""
    text = f"{x:,.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def won(x: float) -> str:
    return f"{fixed(x, 0)}원"


# Units written straight after the number in Korean text; the rest take a space ("25.4 mm").
_NO_SPACE_UNITS = {"원", "%", "°C", "°F", "초", "분", "개", "회", "명", "곳"}


def with_unit(number_text: str, unit: str) -> str:
    return f"{number_text}{unit}" if unit in _NO_SPACE_UNITS else f"{number_text} {unit}"


def answer_text(sol: Solution) -> str:
    return with_unit(fixed(sol.answer, sol.decimals), sol.unit)


def rounding_rule(decimals: int) -> str:
    """The rounding instruction a question states, e.g. '소수점 둘째 자리까지 반올림'."""
    names = {0: "정수로", 1: "소수점 첫째 자리까지", 2: "소수점 둘째 자리까지", 3: "소수점 셋째 자리까지"}
    return f"{names[decimals]} 반올림"


# --- Korean particles ------------------------------------------------------------------------

def _has_final_consonant(word: str) -> tuple[bool, bool]:
    """(has 받침, 받침 is ㄹ) for the last Hangul syllable, ignoring a trailing '(...)' note."""
    stem = word.split("(")[0].rstrip() if word.endswith(")") else word
    last = stem[-1] if stem else ""
    if not "\uac00" <= last <= "\ud7a3":
        raise ValueError(f"particle needs a word ending in a Hangul syllable, got {word!r}")
    final = (ord(last) - 0xAC00) % 28
    return final != 0, final == 8  # 8 is ㄹ


def josa(word: str, pair: str) -> str:
    """Attach the right particle: josa('라인', '은/는') -> '라인은'; '로/으로' treats ㄹ as vowel."""
    with_batchim, without = pair.split("/")
    consonant, rieul = _has_final_consonant(word)
    if pair == "로/으로":
        return word + ("으로" if consonant and not rieul else "로")
    return word + (with_batchim if consonant else without)


def eun(word: str) -> str:
    return josa(word, "은/는")


def i_ga(word: str) -> str:
    return josa(word, "이/가")


def eul(word: str) -> str:
    return josa(word, "을/를")
