"""Numbers as Korean answers write them: `₩12,000`, `-3.5%`, `1.2 × 10^3`, `3만 원`, `1억 2천만 원`.

`normalise` first folds the forms that models mix in (full-width `１２，０００`, `：`, the minus sign
U+2212, LaTeX `\\times`, `12{,}000`, NFD Hangul from macOS tools) so the patterns below stay simple.
Units and currency (원, %, mm, mL/h, kg, ₩) are left out of the value: the gold answer is stored
in the same unit, and a percent stays a percent (15% → 15, not 0.15).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Full-width ASCII block (！..～) sits at a fixed offset from ASCII; U+3000 is the ideographic space.
_FOLD = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0x2212: ord("-"), 0x2013: ord("-")}
_LATEX = [(r"\times", "×"), (r"\cdot", "·"), ("{,}", ","), (r"\,", ""), (r"\!", ""), (r"\%", "%")]
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")


_FRAC_RE = re.compile(r"\\d?frac\{\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\}\{\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\}")


def _frac(m: re.Match) -> str:
    den = float(m[2])
    return repr(float(m[1]) / den) if den else m[0]


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_FOLD)
    for old, new in _LATEX:
        text = text.replace(old, new)
    return _FRAC_RE.sub(_frac, text)  # \frac{3}{4} -> 0.75, so a boxed fraction reads as one number


# A place word, but not the start of 만큼 (as much as), 만약 (if), 백분율 (percentage), 천천히 (slowly).
_UNIT = r"[조억만천백](?!큼|약|분율|천히)"
_DIGITS = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?"
NUMBER_RE = re.compile(
    # A sign only where it cannot be a hyphen between words or a range ("3-5" is 3 and 5).
    r"(?P<sign>(?<![\w.])[-+])?(?:[₩$]\s*)?"
    rf"(?P<num>{_DIGITS})"
    r"(?:\s*\^\s*\{?\s*(?P<pow>[-+]?[0-9]+)\s*\}?)?"                        # 10^3, 2^{10}
    r"(?:\s*[×xX*·]\s*10\s*(?:\^\s*\{?\s*(?P<exp>[-+]?[0-9]+)\s*\}?"       # 1.2 × 10^3
    r"|(?P<sup>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+))"                                        # 1.2×10³
    r"|[eE](?P<e>[-+]?[0-9]+)(?![A-Za-z]))?"                                # 1.2e3
    # Korean place words: 만/억/조 group by 10^4, 천/백 inside a group ("1억 2천만", "12만5천").
    rf"(?P<kor>(?:\s?{_UNIT}|\s?{_DIGITS}(?=\s?{_UNIT}))*"
    rf"(?:(?<=[만억조])\s?{_DIGITS}(?![0-9.,]))?)"                            # "12만 5000"
)
_SMALL = {"천": 1_000, "백": 100}
_BIG = {"만": 10**4, "억": 10**8, "조": 10**12}
_CHAIN_TOKEN = re.compile(rf"{_DIGITS}|[조억만천백]")


@dataclass(frozen=True)
class ParsedNumber:
    value: float
    raw: str
    start: int
    end: int


def _digits(s: str) -> float:
    return float(s.replace(",", ""))


def _korean_chain(first: float, chain: str) -> float:
    """Evaluate `first` followed by place words and numbers, e.g. 1, "억 2천만" -> 120,000,000."""
    total, group, current = 0.0, 0.0, first
    for tok in _CHAIN_TOKEN.findall(chain):
        if tok in _SMALL:
            group += (1.0 if current is None else current) * _SMALL[tok]
            current = None
        elif tok in _BIG:
            group += 0.0 if current is None else current
            total += (group or 1.0) * _BIG[tok]
            group, current = 0.0, None
        else:
            current = _digits(tok)
    return total + group + (current or 0.0)


def _from_match(m: re.Match) -> ParsedNumber:
    value = _digits(m["num"])
    if m["pow"]:
        value = value ** int(m["pow"])
    exponent = m["exp"] or m["e"] or (m["sup"].translate(_SUPERSCRIPT) if m["sup"] else None)
    if exponent:
        value *= 10.0 ** int(exponent)
    if m["kor"].strip():
        value = _korean_chain(value, m["kor"])
    if m["sign"] == "-":
        value = -value
    return ParsedNumber(value, m.group(0).strip(), m.start(), m.end())


def find_numbers(text: str) -> list[ParsedNumber]:
    """Every number in (already normalised) text, left to right."""
    return [_from_match(m) for m in NUMBER_RE.finditer(text)]


def parse_number(text: str) -> float | None:
    """The single number a gold answer string holds (`"₩12,000"` -> 12000.0), else None."""
    found = find_numbers(normalise(str(text)))
    return found[0].value if len(found) == 1 else None
