"""Text normalisation: the same characters for the same text, before anything is hashed.

macOS tools write Hangul as NFD (ᄒ+ᅡ+ᆫ instead of 한), Excel exports full-width digits
(１２３), and copy-paste brings zero-width spaces and control bytes. Two rows that read the same
must become the same string, or exact dedup and tokenisation both see different text.

Order matters: NFC first (so literals and folding see composed syllables), then full-width
folding, then control characters, then whitespace. Lone surrogates (from JSON `\\ud800`
escapes) cannot be encoded at all: by default the row is quarantined rather than guessed at.

NFKC is deliberately not used: it also rewrites ㈜, ①, ㎏ and compatibility jamo spacing,
which changes meaning in finance and medical text.
"""

from __future__ import annotations

import re
import unicodedata

from data_tools.quarantine import RowRejected

# Full-width forms U+FF01..U+FF5E map to ASCII U+0021..U+007E by a fixed offset.
_FULLWIDTH_OFFSET = 0xFEE0
_ALNUM_FOLD = {cp: cp - _FULLWIDTH_OFFSET for cp in
               [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
_ALL_FOLD = {cp: cp - _FULLWIDTH_OFFSET for cp in range(0xFF01, 0xFF5F)}

# C0/C1 control characters (Unicode category Cc) except tab and newline, plus invisible
# characters that only get in the way: zero-width space, word joiner, BOM.
# (ZWJ/ZWNJ stay: they are meaningful inside emoji and some scripts.)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2060\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Horizontal whitespace of any kind (tab, NBSP, ideographic space U+3000, ...) runs -> one space.
_HSPACE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_MANY_NEWLINES = re.compile(r"\n{3,}")


class Normalizer:
    """Built once from a `NormalizeConfig`; `__call__` normalises one string."""

    def __init__(self, fullwidth: str = "alnum", keep_literals: list[str] = (),
                 control_chars: str = "remove", surrogates: str = "quarantine"):
        self.fold = {"alnum": _ALNUM_FOLD, "all": _ALL_FOLD, "none": {}}[fullwidth]
        self.control_chars = control_chars
        self.surrogates = surrogates
        literals = [unicodedata.normalize("NFC", lit) for lit in keep_literals if lit]
        # Longest first so "정답：" wins over a shorter literal it contains.
        literals.sort(key=len, reverse=True)
        self._literals = re.compile("|".join(map(re.escape, literals))) if literals else None

    @classmethod
    def from_config(cls, cfg) -> "Normalizer":
        return cls(cfg.fullwidth, cfg.keep_literals, cfg.control_chars, cfg.surrogates)

    def __call__(self, text: str) -> str:
        if _SURROGATE.search(text):
            if self.surrogates == "quarantine":
                at = _SURROGATE.search(text)
                raise RowRejected("invalid_surrogate", f"lone surrogate U+{ord(at.group()):04X} at {at.start()}")
            text = _SURROGATE.sub("", text)
        text = unicodedata.normalize("NFC", text)
        text = self._fold_fullwidth(text)
        text = self._drop_controls(text)
        return tidy_whitespace(text)

    def _fold_fullwidth(self, text: str) -> str:
        if not self.fold:
            return text
        if self._literals is None:
            return text.translate(self.fold)
        # Fold only between protected literals, so an eval prompt's "정답：" survives intact.
        out, pos = [], 0
        for match in self._literals.finditer(text):
            out.append(text[pos:match.start()].translate(self.fold))
            out.append(match.group())
            pos = match.end()
        out.append(text[pos:].translate(self.fold))
        return "".join(out)

    def _drop_controls(self, text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        first = _CONTROL.search(text)
        if first is None:
            return text
        if self.control_chars == "quarantine":
            raise RowRejected("control_chars", f"U+{ord(first.group()):04X} at {first.start()}")
        return _CONTROL.sub("", text)


def tidy_whitespace(text: str) -> str:
    """Runs of spaces/tabs -> one space; no spaces at line ends; at most one blank line; trimmed."""
    text = _HSPACE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()
