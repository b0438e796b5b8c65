"""`find_pii(text)`: every Korean personal identifier in a text, as sorted non-overlapping Spans.

How it decides (one function per identifier shape, then one resolution step):
  1. Each compiled pattern in `patterns.py` proposes candidates; a candidate is kept only if its
     check digit / date / context rule passes (below, next to each shape).
  2. A candidate whose nearest preceding label says it is something else ("주문번호", "LOT",
     "바코드", ...) is dropped: the label a human wrote is the strongest evidence we have.
  3. Overlaps are resolved by a fixed priority (most specific shape first), then by length.

Input should be NFC (normalise with `unicodedata.normalize("NFC", text)` first, as the rest of
data_tools does). NFD Hangul does not break anything: digits never depend on Hangul, and the
Korean context words are compiled in both spellings. Offsets always refer to the text given.

Choices worth knowing:
  * Resident numbers issued since Oct 2020 have a random last digit, so a failed checksum never
    rejects one; a real birth date and gender digit 1-4 (5-8: foreigner) are required instead.
    A bare, unlabelled 13-digit run that is also a valid EAN-13 barcode is treated as a barcode
    when product words (바코드, 상품, 제품, ...) are near, or when it has the Korean GS1 prefix
    880 and fails the resident checksum. Otherwise it stays a resident number: missing a
    person's number costs more than masking a product code.
  * Passports: the 2021 format M123A4567 is distinctive and always matched; the old M12345678
    format is matched only near 여권/passport, because part numbers look exactly like it.
  * Representative numbers (1588-1234) belong to companies, not people, and are not matched.
"""

from __future__ import annotations

import re

from data_tools.pii import patterns as P
from data_tools.pii.checksums import (
    brn_ok, crn_ok, ean13_ok, luhn_ok, rrn_birth_date, rrn_checksum_ok,
)
from data_tools.pii.kinds import Span

# Lower wins an overlap: a valid 13-digit resident number beats "some digits near a bank name".
_PRIORITY = {"email": 0, "id13": 1, "card": 2, "driver_license": 3, "passport": 4,
             "brn": 5, "phone": 6, "bank_account": 7}

_LABEL_WINDOW = 16  # chars before a number searched for its label ("주민등록번호: " is 8)
_CONTEXT_WINDOW = 20  # chars either side searched for bank / passport / product words
_NON_DIGIT = re.compile(r"[^0-9]")
# "2024-03-...", "2024-0315-..." or "20240315..." opens with a date: a dated reference number
# (order, batch, timestamp), not an account.
_DATE_PREFIX = re.compile(
    r"(?:19|20)[0-9]{2}(?:[- ](?:0[1-9]|1[0-2])(?:[- ]|[0-2][0-9]|3[01])"
    r"|(?:0[1-9]|1[0-2])(?:[0-2][0-9]|3[01]))"
)


def _is_placeholder(digits: str) -> bool:
    """"000-00-00000", "010-0000-0000": form examples, not identifiers (rest is one digit)."""
    return len(set(digits[3:])) == 1


def _is_latin(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


class _Labels:
    """The label nearest before a position: a kind id, "id13", "other" or None. Cached per text,
    because several shapes often propose a candidate at the same position."""

    __slots__ = ("text", "_cache")

    def __init__(self, text: str) -> None:
        self.text = text
        self._cache: dict[int, str | None] = {}

    def before(self, start: int) -> str | None:
        if start in self._cache:
            return self._cache[start]
        text = self.text
        lo = max(0, start - _LABEL_WINDOW)
        for i in range(start - 1, lo - 1, -1):  # a label never reaches across another number
            if "0" <= text[i] <= "9":
                lo = i + 1
                break
        last = None
        for m in P.LABEL.finditer(text, lo, start):
            word = m.group()
            # Latin labels must be whole words: "po" in "Report" or "lot" in "pilot" is not one.
            if _is_latin(word[0]) and m.start() > 0 and _is_latin(text[m.start() - 1]):
                continue
            if _is_latin(word[-1]) and m.end() < len(text) and _is_latin(text[m.end()]):
                continue
            last = P.LABEL_KIND[word]
        if P.BANK_RIGHT_BEFORE.search(text, lo, start):  # "우리 1002...": nearest of all
            last = "bank_account"
        self._cache[start] = last
        return last


def _near(pattern: re.Pattern, text: str, start: int, end: int) -> bool:
    return bool(pattern.search(text, max(0, start - _CONTEXT_WINDOW), start)
                or pattern.search(text, end, end + _CONTEXT_WINDOW))


def _id13(text: str, labels: _Labels, out: list) -> None:
    """YYMMDD-NNNNNNN: resident (rrn), foreigner (frn) or corporate (crn) number."""
    for m in P.ID13.finditer(text):
        label = labels.before(m.start())
        if label == "other":
            continue
        digits = m["a"] + m["b"]
        hyphenated = m["sep"] is not None
        kind = None
        if label == "crn" and crn_ok(digits):
            kind = "crn"
        elif rrn_birth_date(digits) is not None:
            kind = "frn" if digits[6] in "5678" else "rrn"
            if not hyphenated and label != "id13":
                if label is not None:  # bare digits labelled as an account, card, ... number
                    kind = None
                elif ean13_ok(digits) and (
                        _near(P.PRODUCT_NEAR, text, m.start(), m.end())
                        or (digits.startswith("880") and not rrn_checksum_ok(digits))):
                    kind = None  # a Korean barcode (GS1 prefix 880) such as 8801234567893
        elif crn_ok(digits) and (hyphenated or label == "crn"
                                 or _near(P.CORPORATE_NEAR, text, m.start(), m.end())):
            kind = "crn"  # bare 13 digits need a corporate word: "... (주식회사 동방물산)"
        if kind:
            out.append((_PRIORITY["id13"], m.start(), m.end(), kind))


def _cards(text: str, labels: _Labels, out: list) -> None:
    """Luhn-valid cards; a bare run must start with a network digit (3 Amex/Diners/JCB,
    4 Visa, 5 Mastercard, 6 UnionPay/Discover, 9 Korean domestic) and be 16 digits if 9."""
    for m in P.CARD.finditer(text):
        number = m.group()
        digits = _NON_DIGIT.sub("", number)
        bare = len(digits) == len(number)
        if bare and not (number[0] in "3456" or (number[0] == "9" and len(number) == 16)):
            continue
        if luhn_ok(digits) and labels.before(m.start()) != "other":
            out.append((_PRIORITY["card"], m.start(), m.end(), "card"))


def _driver_licenses(text: str, labels: _Labels, out: list) -> None:
    """NN-NN-NNNNNN-NN with region code 11..28, "서울 NN-NNNNNN-NN", or bare after 면허."""
    for m in P.DRIVER_LICENSE.finditer(text):
        label = labels.before(m.start())
        number = m.group()
        region_code_ok = 11 <= int(number[:2]) <= 28
        if number.count("-") == 3:
            ok = region_code_ok and label != "other"
        else:  # NN-NNNNNN-NN or 12 bare digits: too generic without a 면허 label
            ok = label == "driver_license" and (len(number) != 12 or region_code_ok)
        if ok:
            out.append((_PRIORITY["driver_license"], m.start(), m.end(), "driver_license"))
    for m in P.DRIVER_LICENSE_REGION.finditer(text):
        if labels.before(m.start()) != "other":
            out.append((_PRIORITY["driver_license"], m.start(), m.end(), "driver_license"))


def _passports(text: str, labels: _Labels, out: list) -> None:
    for m in P.PASSPORT.finditer(text):
        label = labels.before(m.start())
        if label == "other":
            continue
        if m["new"] or label == "passport" or _near(P.PASSPORT_NEAR, text, m.start(), m.end()):
            out.append((_PRIORITY["passport"], m.start(), m.end(), "passport"))


def _brns(text: str, labels: _Labels, out: list) -> None:
    for m in P.BRN.finditer(text):
        number = m.group()
        if not brn_ok(_NON_DIGIT.sub("", number)):
            continue
        label = labels.before(m.start())
        if label == "other" or ("-" not in number and label != "brn"):
            continue
        out.append((_PRIORITY["brn"], m.start(), m.end(), "brn"))


def _phones(text: str, labels: _Labels, out: list) -> None:
    for pattern in (P.PHONE_DOMESTIC, P.PHONE_PREFIXED):
        for m in pattern.finditer(text):
            if labels.before(m.start()) == "other":
                continue
            groups = m.groupdict()
            if groups.get("mobile") or groups.get("intl"):
                digits = _NON_DIGIT.sub("", m.group())
                # without the leading 0 / "+82" / "(0)": "1012345678" for any 010 number
                national = digits[2:].lstrip("0") if groups.get("intl") else digits[1:]
                # 010 numbers always have an 8-digit subscriber part; 011/016-019 may have 7.
                if national.startswith("10") and len(national) != 10:
                    continue
            out.append((_PRIORITY["phone"], m.start(), m.end(), "phone"))


def _bank_accounts(text: str, labels: _Labels, out: list) -> None:
    """10..14 digits (grouped or bare) with a bank name or 계좌 within ~20 chars."""
    for m in P.BANK_ACCOUNT.finditer(text):
        number = m.group()
        if not 10 <= len(_NON_DIGIT.sub("", number)) <= 14 or _DATE_PREFIX.match(number):
            continue
        start, end = m.start(), m.end()
        label = labels.before(start)
        if label == "bank_account" or (label is None and _near(P.BANK_NEAR, text, start, end)):
            out.append((_PRIORITY["bank_account"], start, end, "bank_account"))


def _resolve(text: str, candidates: list) -> list[Span]:
    """Keep the best non-overlapping candidates: by priority, then longest, then leftmost."""
    candidates.sort(key=lambda c: (c[0], c[1] - c[2], c[1]))
    kept: list[Span] = []
    for _, start, end, kind in candidates:
        if kind != "email" and _is_placeholder(_NON_DIGIT.sub("", text[start:end])):
            continue
        if all(end <= s.start or start >= s.end for s in kept):
            kept.append(Span(kind, start, end, text[start:end]))
    kept.sort(key=lambda s: s.start)
    return kept


def find_pii(text: str) -> list[Span]:
    """All personal identifiers in `text` (NFC expected), sorted by start, never overlapping."""
    candidates: list = []
    if "@" in text:
        for m in P.EMAIL.finditer(text):
            candidates.append((_PRIORITY["email"], m.start(), m.end(), "email"))
    if P.ANY_DIGIT.search(text):  # every other identifier contains digits
        labels = _Labels(text)
        for find in (_id13, _cards, _driver_licenses, _passports, _brns, _phones, _bank_accounts):
            find(text, labels, candidates)
    return _resolve(text, candidates) if candidates else []
