"""Context evidence around a candidate number: the words a writer put next to it, both sides.

`detect.py` scores each candidate from its shape, its validation (check digits, dates) and what
this module reports about its surroundings:
  * the label nearest *before* it ("주민등록번호 ...", "주문번호 ...") within a short window that
    never reaches across another number: the strongest evidence, a human named the thing;
  * the first label right *after* it ("... (주민번호)", "... 카드로 환불"): weaker, as such
    trailing words more often belong to the next clause;
  * words of a kind anywhere within ±20 chars (a bank name, 여권, 법인) for the shapes that are
    meaningless without one;
  * non-personal words within ±20 chars (주문, 송장, 출고, 바코드, 로트 ...): a valid-looking digit
    run next to them is far more likely an order, lot or barcode number than a person's.
Everything is cached per text because several shapes propose candidates at the same position.
"""

from __future__ import annotations

import re

from data_tools.pii import patterns as P

LABEL_WINDOW = 16  # chars before a number searched for its label ("주민등록번호: " is 8)
AFTER_WINDOW = 10  # chars after a number searched for a trailing label ("(외국인등록번호)")
NEAR_WINDOW = 20   # chars either side searched for kind words and non-personal words


def _is_latin(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


class Context:
    """What the words around positions of one text say. Label values are a kind id, "id13"
    (resident or foreigner, the label does not say which), "other" (not personal) or None."""

    __slots__ = ("text", "_before", "_after", "_soft")

    def __init__(self, text: str) -> None:
        self.text = text
        self._before: dict[int, tuple[str | None, str | None]] = {}
        self._after: dict[int, str | None] = {}
        self._soft: dict[tuple[int, int], bool] = {}

    def _labels(self, lo: int, hi: int):
        """(word, kind) of every whole label word in text[lo:hi], left to right."""
        text = self.text
        for m in P.LABEL.finditer(text, lo, hi):
            word = m.group()
            # Latin labels must be whole words: "po" in "Report" or "lot" in "pilot" is not one.
            if _is_latin(word[0]) and m.start() > 0 and _is_latin(text[m.start() - 1]):
                continue
            if _is_latin(word[-1]) and m.end() < len(text) and _is_latin(text[m.end()]):
                continue
            yield word, P.LABEL_KIND[word]

    def before(self, start: int) -> str | None:
        return self.label_before(start)[0]

    def label_before(self, start: int) -> tuple[str | None, str | None]:
        """(kind, word) of the label nearest before `start`, or (None, None)."""
        if start in self._before:
            return self._before[start]
        text = self.text
        lo = max(0, start - LABEL_WINDOW)
        for i in range(start - 1, lo - 1, -1):  # a label never reaches across another number
            if "0" <= text[i] <= "9":
                lo = i + 1
                break
        last: tuple[str | None, str | None] = (None, None)
        for word, kind in self._labels(lo, start):
            last = (kind, word)
        if P.BANK_RIGHT_BEFORE.search(text, lo, start):  # "우리 1002...": nearest of all
            last = ("bank_account", None)
        self._before[start] = last
        return last

    def after(self, end: int) -> str | None:
        """Kind of the first label within AFTER_WINDOW after `end`, not across another number."""
        if end in self._after:
            return self._after[end]
        text = self.text
        hi = min(len(text), end + AFTER_WINDOW)
        for i in range(end, hi):
            if "0" <= text[i] <= "9":
                hi = i
                break
        found = next((kind for _, kind in self._labels(end, hi)), None)
        self._after[end] = found
        return found

    def near(self, pattern: re.Pattern, start: int, end: int) -> bool:
        text = self.text
        return bool(pattern.search(text, max(0, start - NEAR_WINDOW), start)
                    or pattern.search(text, end, end + NEAR_WINDOW))

    def non_personal_near(self, start: int, end: int) -> bool:
        key = (start, end)
        if key not in self._soft:
            self._soft[key] = self.near(P.NON_PERSONAL_NEAR, start, end)
        return self._soft[key]
