"""`find_pii(text)`: every Korean personal identifier in a text, as sorted non-overlapping Spans.

How it decides (one function per identifier shape, then one resolution step):
  1. Each compiled pattern in `patterns.py` proposes candidates.
  2. Each candidate gets a score: a base from its shape and its validation (check digit, a real
     birth date with a matching century digit), plus or minus what the words around it say
     (context.py, both directions). A label naming the kind ("주민등록번호 860622 - 3744599")
     carries a candidate whose digits fail validation: typos in ID fields still identify people.
     Non-personal words (주문, 송장, 출고, 바코드, 로트 ...) sink a code-like number whose digits
     happen to validate ("주문 1201156384062 건은 출고 대기 중"). A label saying it is something
     else ("주문번호", "LOT", ...) right before a number rejects it outright.
  3. Candidates scoring at least `threshold` compete; overlaps are resolved by score, then
     by a fixed priority (most specific shape first), then by length.
Each Span carries its score and a reason (REASONS): what carried it.

Input should be NFC (normalise with `unicodedata.normalize("NFC", text)` first, as the rest of
data_tools does). NFD Hangul does not break anything: digits never depend on Hangul, and the
Korean context words are compiled in both spellings. Offsets always refer to the text given.

Choices worth knowing:
  * Resident numbers issued since Oct 2020 have a random last digit, so a failed checksum never
    rejects one; a real birth date with gender digit 1-4 (5-8: foreigner) is enough on its own.
    A bare 13-digit run with the Korean GS1 prefix 880 that fails the resident checksum but is a
    valid EAN-13 is a barcode unless a label names it. Otherwise it stays a resident number:
    missing a person's number costs more than masking a product code.
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
from data_tools.pii.context import Context
from data_tools.pii.kinds import Span

# A candidate is reported when its score reaches this (PiiConfig.threshold overrides it).
THRESHOLD = 0.5
# Context weights. A naming label before a number outweighs any failed validation (base >= -0.1);
# one after it is weaker (it may belong to the next clause); a kind word nearby (bank name, 여권,
# 법인) lifts shapes that mean nothing alone. A non-personal word sinks even a validated code-like
# number (base <= 0.9 -> below 0.5) unless a label names it, which shadows the words beyond it.
NAMED, NAMED_AFTER, NEAR, NON_PERSONAL = 0.6, 0.4, 0.5, 0.5
# Bare 13 digits labelled as another personal kind ("계좌 8001011234560"): that kind, not an RRN.
OTHER_KIND = 0.4
# What carried a reported span: the digits alone (checksum, a real birth date, a distinctive
# format with no check digit), the same and a naming label, or only the label / nearby words.
REASONS = ("checksum", "date", "format", "checksum+context", "date+context", "format+context",
           "context")

# Lower wins an overlap: a valid 13-digit resident number beats "some digits near a bank name".
_PRIORITY = {"email": 0, "id13": 1, "card": 2, "driver_license": 3, "passport": 4,
             "brn": 5, "phone": 6, "bank_account": 7}

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


def _judge(ctx: Context, start: int, end: int, base: float, basis: str, named: tuple[str, ...], *,
           near: re.Pattern | None = None, code_like: bool = True,
           other_kind: float = 0.0) -> tuple[float, str]:
    """(unclamped score, reason) of a candidate whose shape and validation are worth `base`.
    `named`: label kinds that name it; `code_like`: shapes that order/lot/part numbers share."""
    label = ctx.before(start)
    if label == "other":
        return -1.0, ""
    context = 0.0
    if label in named:
        context = NAMED  # words beyond the label are shadowed by it
    else:
        if label is not None:
            context -= other_kind
        if ctx.after(end) in named:
            context += NAMED_AFTER
        elif near is not None and label is None and ctx.near(near, start, end):
            context += NEAR
        if code_like and ctx.non_personal_near(start, end):
            context -= NON_PERSONAL
    score = round(base + context, 3)
    if context > 0:
        return score, "context" if base < THRESHOLD else f"{basis}+context"
    return score, basis


def _add(out: list, kind_group: str, start: int, end: int, kind: str, judged) -> None:
    score, reason = judged
    out.append((_PRIORITY[kind_group], start, end, kind, score, reason))


def _id13(text: str, ctx: Context, out: list) -> None:
    """YYMMDD-NNNNNNN: resident (rrn), foreigner (frn) or corporate (crn) number; both readings
    are scored and the better one is kept (a tie goes to the person)."""
    for m in P.ID13.finditer(text):
        digits = m["a"] + m["b"]
        sep = m["sep"]
        bare = sep is None
        base = 0.25 if bare else 0.3 if not sep.strip() else 0.4
        basis = "format"
        if rrn_birth_date(digits) is not None:
            base, basis = base + 0.3, "date"
            if rrn_checksum_ok(digits):
                base, basis = base + 0.2, "checksum"
        else:
            base -= 0.2  # no such birth date, or the century digit contradicts it (a typo?)
        if bare and digits.startswith("880") and ean13_ok(digits) and not rrn_checksum_ok(digits):
            base -= 0.4  # a Korean barcode (GS1 prefix 880) such as 8801234567893
        # labelled as another kind: bare digits, or any layout under a 법인 label, lose weight
        person = _judge(ctx, m.start(), m.end(), base, basis, ("id13",),
                        other_kind=OTHER_KIND if bare or ctx.before(m.start()) == "crn" else 0.0)
        best = (_person_kind(ctx, m.start(), digits), person)
        # Corporate serials start with 0 (no gender digit), so the reading needs its check digit,
        # or a 법인 label next to it to vouch for a typo ("법인등록번호 160111-0088324").
        valid = crn_ok(digits)
        if valid or "crn" in (ctx.before(m.start()), ctx.after(m.end())):
            base = (0.1 if bare else 0.3) + (0.3 if valid else -0.1)
            corp = _judge(ctx, m.start(), m.end(), base, "checksum" if valid else "format",
                          ("crn",), near=P.CORPORATE_NEAR if valid else None)
            if corp[0] > person[0]:
                best = ("crn", corp)
        _add(out, "id13", m.start(), m.end(), *best)
    for m in P.ID13_MISTYPED.finditer(text):  # a digit too few/many: only a label can vouch
        if ctx.before(m.start()) == "crn":
            kind, named = "crn", ("crn",)
        else:
            kind, named = _person_kind(ctx, m.start(), m["a"] + m["b"]), ("id13",)
        _add(out, "id13", m.start(), m.end(), kind,
             _judge(ctx, m.start(), m.end(), 0.0, "format", named))


def _person_kind(ctx: Context, start: int, digits: str) -> str:
    """frn when the label says 외국인 (even over a mistyped gender digit) or the digit is 5-8."""
    word = ctx.label_before(start)[1] or ""
    if "외국인" in word or (len(digits) > 6 and digits[6] in "5678"):
        return "frn"
    return "rrn"


def _cards(text: str, ctx: Context, out: list) -> None:
    """Luhn-valid cards; a bare run must start with a network digit (3 Amex/Diners/JCB,
    4 Visa, 5 Mastercard, 6 UnionPay/Discover, 9 Korean domestic) and be 16 digits if 9."""
    for m in P.CARD.finditer(text):
        number = m.group()
        digits = _NON_DIGIT.sub("", number)
        bare = len(digits) == len(number)
        if bare and not (number[0] in "3456" or (number[0] == "9" and len(number) == 16)):
            continue
        base = (0.2 if bare else 0.3) + (0.4 if luhn_ok(digits) else -0.1)
        _add(out, "card", m.start(), m.end(), "card",
             _judge(ctx, m.start(), m.end(), base, "checksum", ("card",)))
    for m in P.CARD_MISTYPED.finditer(text):  # a digit short or long: only a label can vouch
        if _one_off([len(g) for g in m.group().split(m["s"])], (4, 4, 4, 4)):
            _add(out, "card", m.start(), m.end(), "card",
                 _judge(ctx, m.start(), m.end(), 0.0, "format", ("card",)))


def _one_off(lengths: list[int], expected: tuple[int, ...]) -> bool:
    """Exactly one digit too few or too many, in one group: how a hand-copied number goes wrong."""
    return sum(abs(a - b) for a, b in zip(lengths, expected)) == 1


def _driver_licenses(text: str, ctx: Context, out: list) -> None:
    """NN-NN-NNNNNN-NN with region code 11..28, "서울 NN-NNNNNN-NN", or bare after 면허."""
    for m in P.DRIVER_LICENSE.finditer(text):
        number = m.group()
        # NN-NNNNNN-NN or 12 bare digits are too generic to stand without a 면허 label.
        full = number.count("-") == 3
        base = (0.7 if 11 <= int(number[:2]) <= 28 else 0.1) if full else 0.0
        _add(out, "driver_license", m.start(), m.end(), "driver_license",
             _judge(ctx, m.start(), m.end(), base, "format", ("driver_license",)))
    for m in P.DRIVER_LICENSE_GROUPS.finditer(text):
        # spaced "28 21 004518 73" (a region code lifts it a little), or a group a digit off:
        # both need a 면허 label. The exact hyphenated form was scored above.
        groups = m.group().split(m["s"])
        lengths = [len(g) for g in groups]
        if lengths == [2, 2, 6, 2]:
            if m["s"] == "-":
                continue
            base = 0.2 if 11 <= int(groups[0]) <= 28 else 0.0
        elif _one_off(lengths, (2, 2, 6, 2)):
            base = 0.0
        else:
            continue
        _add(out, "driver_license", m.start(), m.end(), "driver_license",
             _judge(ctx, m.start(), m.end(), base, "format", ("driver_license",)))
    for m in P.DRIVER_LICENSE_REGION.finditer(text):
        _add(out, "driver_license", m.start(), m.end(), "driver_license",
             _judge(ctx, m.start(), m.end(), 0.7, "format", ("driver_license",)))


def _passports(text: str, ctx: Context, out: list) -> None:
    for m in P.PASSPORT.finditer(text):
        base = 0.7 if m["new"] else 0.1
        _add(out, "passport", m.start(), m.end(), "passport",
             _judge(ctx, m.start(), m.end(), base, "format", ("passport",), near=P.PASSPORT_NEAR))
    if not P.PASSPORT_NEAR.search(text):
        return
    # Any ICAO-shaped number (foreign, lower-case, a digit off) right after a passport label; a
    # loose shape, so a label after it or a passport word nearby is not enough, nor is a date.
    for m in P.PASSPORT_NAMED.finditer(text):
        number = m.group()
        if ctx.before(m.start()) != "passport" or _DATE_PREFIX.match(number):
            continue
        _add(out, "passport", m.start(), m.end(), "passport",
             _judge(ctx, m.start(), m.end(), 0.0, "format", ("passport",)))


def _brns(text: str, ctx: Context, out: list) -> None:
    """NNN-NN-NNNNN with its check digit; 10 bare digits only after a 사업자 label. A hyphenated
    one is not code-like: business numbers live next to 납품 and 발주 as a matter of course."""
    for m in P.BRN.finditer(text):
        number = m.group()
        digits = _NON_DIGIT.sub("", number)
        hyphenated = m["s"] == "-" and len(digits) == 10
        if len(digits) == 10:  # spaced "617 15 22408" and bare need a label, like the bare form
            base, basis = (0.3 if hyphenated else 0.0) + (0.4 if brn_ok(digits) else -0.1), "checksum"
        else:  # the last group a digit short or long: only a label can vouch
            base, basis = 0.0, "format"
        _add(out, "brn", m.start(), m.end(), "brn",
             _judge(ctx, m.start(), m.end(), base, basis, ("brn",), code_like=not hyphenated))


def _phones(text: str, ctx: Context, out: list) -> None:
    """Phones are never code-like: a 주문자's or 배송지's number is still a person's."""
    for pattern in (P.PHONE_DOMESTIC, P.PHONE_PREFIXED):
        for m in pattern.finditer(text):
            groups = m.groupdict()
            if groups.get("mobile") or groups.get("intl"):
                digits = _NON_DIGIT.sub("", m.group())
                # without the leading 0 / "+82" / "(0)": "1012345678" for any 010 number
                national = digits[2:].lstrip("0") if groups.get("intl") else digits[1:]
                # 010 numbers always have an 8-digit subscriber part; 011/016-019 may have 7.
                if national.startswith("10") and len(national) != 10:
                    continue
            _add(out, "phone", m.start(), m.end(), "phone",
                 _judge(ctx, m.start(), m.end(), 0.8, "format", ("phone",), code_like=False))
    # A digit short or long, or one letter O typed for a zero: only a phone label can vouch
    # ("연락처 010-4581-229"). More than one O is a mask ("010-OOOO-1234"), not a typo.
    for m in P.PHONE_MISTYPED.finditer(text):
        number = m.group()
        if number.count("O") + number.count("o") <= 1:
            _add(out, "phone", m.start(), m.end(), "phone",
                 _judge(ctx, m.start(), m.end(), 0.0, "format", ("phone",), code_like=False))


def _bank_accounts(text: str, ctx: Context, out: list) -> None:
    """10..14 digits (grouped or bare): an account only by its context, a bank name or 계좌."""
    for m in P.BANK_ACCOUNT.finditer(text):
        number = m.group()
        if not 10 <= len(_NON_DIGIT.sub("", number)) <= 14 or _DATE_PREFIX.match(number):
            continue
        _add(out, "bank_account", m.start(), m.end(), "bank_account",
             _judge(ctx, m.start(), m.end(), 0.0, "format", ("bank_account",), near=P.BANK_NEAR))


def _resolve(text: str, view: str, candidates: list, threshold: float) -> list[Span]:
    """Keep the best non-overlapping candidates that reach `threshold`: by score, then by
    priority, then longest, then leftmost (a licence its label names beats a bare-digit guess)."""
    candidates = [c for c in candidates if c[4] >= threshold]
    candidates.sort(key=lambda c: (-c[4], c[0], c[1] - c[2], c[1]))
    kept: list[Span] = []
    for _, start, end, kind, score, reason in candidates:
        if kind != "email" and _is_placeholder(_NON_DIGIT.sub("", view[start:end])):
            continue
        if all(end <= s.start or start >= s.end for s in kept):
            kept.append(Span(kind, start, end, text[start:end], min(score, 1.0), reason))
    kept.sort(key=lambda s: s.start)
    return kept


def find_pii(text: str, threshold: float = THRESHOLD) -> list[Span]:
    """All personal identifiers in `text` (NFC expected), sorted by start, never overlapping.
    `threshold` (0..1]: lower finds more (and more look-alikes), higher fewer."""
    candidates: list = []
    # Patterns read a same-length copy with full-width forms, dash and space variants folded
    # (patterns.detection_view); spans slice the caller's text at the same offsets.
    view = P.detection_view(text)
    if "@" in view:
        for m in P.EMAIL.finditer(view):
            candidates.append((_PRIORITY["email"], m.start(), m.end(), "email", 1.0, "format"))
    if P.ANY_DIGIT.search(view):  # every other identifier contains digits
        ctx = Context(view)
        for find in (_id13, _cards, _driver_licenses, _passports, _brns, _phones, _bank_accounts):
            find(view, ctx, candidates)
    return _resolve(text, view, candidates, threshold) if candidates else []
