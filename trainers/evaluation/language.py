"""Which script a model answered in: Hangul, CJK ideographs (Chinese drift), Latin (English drift).

R1 distills were trained mostly on Chinese and English traces and drift out of Korean; a Korean
eval must show it. Hangul is counted by its Unicode blocks, explicitly: a class like `[ㄱ-힣]`
spans U+3131..U+D7A3, which includes all CJK ideographs, and would count Chinese as Korean.
Shares are over letters only (Unicode category L*): digits, punctuation, spaces and symbols are
neutral, so "12,000원" is all Hangul.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable

from trainers.evaluation.answers import answer_region

HANGUL_RANGES = (
    (0xAC00, 0xD7A3),  # syllables
    (0x1100, 0x11FF),  # jamo
    (0x3130, 0x318F),  # compatibility jamo
    (0xA960, 0xA97F),  # jamo extended-A
    (0xD7B0, 0xD7FF),  # jamo extended-B
    (0xFFA0, 0xFFDC),  # half-width jamo
)
CJK_RANGES = (
    (0x4E00, 0x9FFF),   # unified ideographs
    (0x3400, 0x4DBF),   # extension A
    (0xF900, 0xFAFF),   # compatibility ideographs
    (0x20000, 0x323AF), # extensions B..H
)
LATIN_RANGES = ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))


def _in(cp: int, ranges) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


@dataclass(frozen=True)
class ScriptShares:
    letters: int       # letters counted; the shares below are fractions of it (all 0 when none)
    hangul: float
    cjk: float
    latin: float
    other: float       # kana, Cyrillic, ...


def script_shares(text: str) -> ScriptShares:
    counts = {"hangul": 0, "cjk": 0, "latin": 0, "other": 0}
    for ch in unicodedata.normalize("NFC", text):
        if not unicodedata.category(ch).startswith("L"):
            continue
        cp = ord(ch)
        key = ("hangul" if _in(cp, HANGUL_RANGES) else "cjk" if _in(cp, CJK_RANGES)
               else "latin" if _in(cp, LATIN_RANGES) else "other")
        counts[key] += 1
    n = sum(counts.values())
    return ScriptShares(n, *((counts[k] / n if n else 0.0) for k in ("hangul", "cjk", "latin", "other")))


def hangul_share(text: str) -> float | None:
    """Fraction of letters that are Hangul; None for text with no letters (e.g. just "3")."""
    s = script_shares(text)
    return s.hangul if s.letters else None


def language_report(outputs: Iterable[str], min_hangul: float = 0.5, answer_only: bool = True) -> dict:
    """Mean script shares over outputs that have letters, and how many fell below `min_hangul`.

    `answer_only` looks at the text after `</think>` (the part a user reads); an unclosed think
    has no answer and is skipped. Outputs with no letters are neutral and not counted.
    """
    rows = []
    for out in outputs:
        text = answer_region(out) if answer_only else out
        if text is None:
            continue
        s = script_shares(text)
        if s.letters:
            rows.append(s)
    n = len(rows)
    mean = {k: (sum(getattr(r, k) for r in rows) / n if n else None)
            for k in ("hangul", "cjk", "latin", "other")}
    return {
        "n_with_letters": n,
        "mean_share": mean,
        "min_hangul": min_hangul,
        "below_min_hangul": sum(r.hangul < min_hangul for r in rows),
        "mostly_cjk": sum(r.cjk > 0.5 for r in rows),
        "mostly_latin": sum(r.latin > 0.5 for r in rows),
    }
