"""Check-digit and plausibility rules for Korean identifiers and payment cards.

Every function takes a string of ASCII digits only (callers strip hyphens and spaces first) and
returns a bool or the expected check digit. The `*_check_digit` forms exist so the pseudonymiser
can pick a last digit that is guaranteed *wrong*: a fake number must never be somebody's real one.
"""

from __future__ import annotations

import datetime

# Resident registration number (주민등록번호): weights over the first 12 digits.
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# Business registration number (사업자등록번호): weights over the first 9 digits.
_BRN_WEIGHTS = (1, 3, 7, 1, 3, 7, 1, 3, 5)

# Gender/century digit of an RRN -> century of birth. 9/0 (born in the 1800s) are left out on
# purpose: nobody alive has one, and accepting 0 would turn every "YYMMDD-0NNNNNN" corporate
# number (법인등록번호 serials start with 0) into a false resident-number hit.
_CENTURY_BY_GENDER_DIGIT = {"1": 1900, "2": 1900, "3": 2000, "4": 2000,
                            "5": 1900, "6": 1900, "7": 2000, "8": 2000}


def _weighted_sum(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights))


def rrn_check_digit(first12: str) -> int:
    """Check digit of a resident number issued before Oct 2020: (11 - Σ mod 11) mod 10."""
    return (11 - _weighted_sum(first12, _RRN_WEIGHTS) % 11) % 10


def frn_check_digit(first12: str) -> int:
    """Check digit of an older foreigner number: same weights, (13 - Σ mod 11) mod 10."""
    return (13 - _weighted_sum(first12, _RRN_WEIGHTS) % 11) % 10


def rrn_checksum_ok(digits13: str) -> bool:
    """True when the last digit matches the resident or the foreigner formula.

    A False here does NOT mean "not a resident number": numbers issued since October 2020 carry
    a random last digit. Detection uses `rrn_birth_date` for plausibility instead.
    """
    last = int(digits13[12])
    first12 = digits13[:12]
    return last in (rrn_check_digit(first12), frn_check_digit(first12))


def rrn_birth_date(digits13: str, today: datetime.date | None = None) -> datetime.date | None:
    """Birth date encoded by YYMMDD + gender digit, or None when it is not a plausible one.

    Plausible: the gender digit is 1-8, the date exists in the calendar, and it is not in the
    future (a "2088-01-23" birth date is an EAN-13 barcode, not a person).
    """
    century = _CENTURY_BY_GENDER_DIGIT.get(digits13[6])
    if century is None:
        return None
    try:
        born = datetime.date(century + int(digits13[0:2]), int(digits13[2:4]), int(digits13[4:6]))
    except ValueError:
        return None
    if born > (today or datetime.date.today()):
        return None
    return born


def luhn_check_digit(payload: str) -> int:
    """Luhn digit to append to `payload`: double every second digit counting from the right."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these positions become "every second digit" once the check is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def luhn_ok(digits: str) -> bool:
    return len(digits) >= 2 and luhn_check_digit(digits[:-1]) == int(digits[-1])


def brn_check_digit(first9: str) -> int:
    """사업자등록번호 check: Σ d_i*w_i + floor(d9*5/10), then (10 - sum mod 10) mod 10."""
    total = _weighted_sum(first9, _BRN_WEIGHTS) + (int(first9[8]) * 5) // 10
    return (10 - total % 10) % 10


def brn_ok(digits10: str) -> bool:
    return len(digits10) == 10 and brn_check_digit(digits10[:9]) == int(digits10[9])


def crn_check_digit(first12: str) -> int:
    """법인등록번호 check: weights 1,2,1,2,... over 12 digits, (10 - Σ mod 10) mod 10."""
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(first12))
    return (10 - total % 10) % 10


def crn_ok(digits13: str) -> bool:
    return len(digits13) == 13 and crn_check_digit(digits13[:12]) == int(digits13[12])


def ean13_ok(digits13: str) -> bool:
    """EAN-13 barcode check (weights 1,3 alternating): used to recognise product codes."""
    if len(digits13) != 13:
        return False
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits13[:12]))
    return (10 - total % 10) % 10 == int(digits13[12])
