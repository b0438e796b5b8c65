"""Quality rules for well-formed rows: length bounds, Hangul ratio, repetition.

Hangul is counted by its Unicode blocks, listed explicitly. The common regex `[ㄱ-힣]` runs
from U+3131 to U+D7A3 and so also matches all CJK ideographs (U+4E00..U+9FFF), Japanese kana
and more: a Chinese page would pass a "mostly Korean" filter written that way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (first, last) code points, inclusive.
HANGUL_BLOCKS = (
    (0x1100, 0x11FF),  # Hangul Jamo (conjoining; what NFD text is made of)
    (0x3130, 0x318F),  # Hangul Compatibility Jamo (ㄱ, ㅏ typed alone)
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A (old initial consonants)
    (0xAC00, 0xD7A3),  # Hangul Syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo Extended-B (old medial/final jamo)
)


_HANGUL = re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in HANGUL_BLOCKS) + "]")
# Letters: word characters that are neither digits nor "_" (regex, not a Python loop: this runs per row).
_LETTER = re.compile(r"[^\W\d_]")


def is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in HANGUL_BLOCKS)


def hangul_ratio(text: str) -> float:
    """Share of Hangul among letters: digits, punctuation and spaces are neutral, so a finance
    answer full of amounts is judged by its words. 0.0 when there are no letters."""
    letters = len(_LETTER.findall(text))
    return len(_HANGUL.findall(text)) / letters if letters else 0.0


def repetition_ratio(text: str, n: int = 10) -> float:
    """1 - distinct/total character n-grams (spaces removed). About 0 for ordinary prose, near 1
    for "ㅋㅋㅋㅋ..." or a sentence pasted twenty times. Texts shorter than n score 0."""
    chars = "".join(text.split())
    total = len(chars) - n + 1
    if total <= 1:
        return 0.0
    distinct = len({chars[i:i + n] for i in range(total)})
    return 1.0 - distinct / total


@dataclass(frozen=True)
class QualityRules:
    min_chars: int = 8
    max_chars: int = 32000
    min_hangul_ratio: float = 0.1
    max_repetition: float = 0.6
    repetition_ngram: int = 10

    @classmethod
    def from_config(cls, cfg) -> "QualityRules":
        return cls(cfg.min_chars, cfg.max_chars, cfg.min_hangul_ratio, cfg.max_repetition, cfg.repetition_ngram)

    def failure(self, text: str) -> tuple[str, str] | None:
        """(reason, detail) for the first rule `text` breaks, or None when it passes all."""
        length = len(text)
        if length < self.min_chars:
            return "too_short", f"{length} chars < min_chars {self.min_chars}"
        if length > self.max_chars:
            return "too_long", f"{length} chars > max_chars {self.max_chars}"
        ratio = hangul_ratio(text)
        if ratio < self.min_hangul_ratio:
            return "low_hangul", f"hangul ratio {ratio:.3f} < {self.min_hangul_ratio}"
        rep = repetition_ratio(text, self.repetition_ngram)
        if rep > self.max_repetition:
            return "repetitive", f"repetition {rep:.3f} > {self.max_repetition}"
        return None
