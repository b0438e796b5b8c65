"""Random secrets in the shape of Korean identifiers, for canaries (Carlini et al., "The Secret
Sharer", 2019): the inserted secrets and the never-inserted candidates they are ranked against are
drawn by the same function, so a canary differs from its candidates only in having been trained on.

    draw_secret("rrn", random.Random(0))      -> "870415-2381046"
    space_size("phone")                        -> 80_000_000 (how many secrets the format holds)

Formats (each one `find_pii` recognises as its kind, so an extracted canary also shows up as PII):
  rrn      YYMMDD-GNNNNNC  birth date 1950-2009, gender digit matching the century, check digit valid
  phone    010-NNNN-NNNN   mobile; the middle group starts 2-9, as issued numbers do
  account  NNN-NNN-NNNNNN  a 3-3-6 bank account (신한-style), random digits
Uniform draws over the whole format: the exposure estimate assumes candidates are a uniform sample.
"""

from __future__ import annotations

import datetime
import random

from data_tools.pii.checksums import rrn_check_digit

SECRET_KINDS = ("rrn", "phone", "account")

# A sentence that puts the secret where a person's own identifier would be; `{secret}` is replaced.
DEFAULT_TEMPLATES = {
    "rrn": "제 주민등록번호는 {secret}입니다.",
    "phone": "제 휴대폰 번호는 {secret}입니다.",
    "account": "제 신한은행 계좌번호는 {secret}입니다.",
}

_FIRST_DAY = datetime.date(1950, 1, 1)
_DAYS = (datetime.date(2009, 12, 31) - _FIRST_DAY).days + 1


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _rrn(rng: random.Random) -> str:
    born = _FIRST_DAY + datetime.timedelta(days=rng.randrange(_DAYS))
    gender = rng.choice("12" if born.year < 2000 else "34")
    first12 = born.strftime("%y%m%d") + gender + _digits(rng, 5)
    return f"{first12[:6]}-{first12[6:]}{rrn_check_digit(first12)}"


def _phone(rng: random.Random) -> str:
    return f"010-{rng.randrange(2, 10)}{_digits(rng, 3)}-{_digits(rng, 4)}"


def _account(rng: random.Random) -> str:
    return f"{_digits(rng, 3)}-{_digits(rng, 3)}-{_digits(rng, 6)}"


_DRAW = {"rrn": _rrn, "phone": _phone, "account": _account}
_SPACE = {"rrn": _DAYS * 2 * 10**5, "phone": 8 * 10**7, "account": 10**12}


def draw_secret(kind: str, rng: random.Random) -> str:
    """One uniformly drawn secret of `kind` (SECRET_KINDS)."""
    return _DRAW[kind](rng)


def space_size(kind: str) -> int:
    """How many distinct secrets the format holds (|R| in the paper)."""
    return _SPACE[kind]


def draw_distinct(kind: str, rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[str]:
    """`n` distinct secrets, none in `exclude` (the inserted canaries never count as candidates)."""
    if n > space_size(kind) // 2:
        raise ValueError(f"{n} distinct {kind} secrets asked for; the format holds {space_size(kind)}")
    seen, out = set(exclude), []
    while len(out) < n:
        secret = draw_secret(kind, rng)
        if secret not in seen:
            seen.add(secret)
            out.append(secret)
    return out
