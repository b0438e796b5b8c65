"""Fake identifiers for `pseudonymize` mode: consistent, same shape, and never a real number.

Rules, and why:
  * Consistent: the same identifier maps to the same fake everywhere in one dataset, so a
    conversation that mentions a customer's phone twice still reads coherently. The key is the
    identifier's canonical digits, so "010-1234-5678" and "01012345678" share one fake.
  * Deterministic and order-free: each fake is drawn from an RNG seeded by hash(seed, kind,
    canonical value), so shuffling or sharding a dataset does not change its fakes.
  * Same shape: separators, parentheses, "+82", letter positions and region names are kept;
    only digits (and passport letters) change, so a model still learns what the format looks like.
  * Not a real person's number: where a check digit exists (resident, foreigner, business,
    corporate numbers, cards) the fake's check digit is deliberately wrong. Resident fakes use
    birth years 1950-2005, whose numbers were all issued with valid check digits (the random
    last digit only exists since Oct 2020). Phones have no check digit, so the fake subscriber
    part starts with 0, which is not assigned to subscribers. E-mails move to example.com, a
    domain reserved for examples (RFC 2606).
"""

from __future__ import annotations

import datetime
import hashlib
import random
import re
import string

from data_tools.pii.checksums import (
    brn_check_digit, crn_check_digit, frn_check_digit, luhn_check_digit, rrn_check_digit,
)

_NON_DIGIT = re.compile(r"[^0-9]")
_DIGIT = re.compile(r"[0-9]")
_INTL_PREFIX = re.compile(r"^\+82[-. ]?(?:\(0\)\s?)?")


def _fill(template: str, digits: str) -> str:
    """Write `digits` into the digit positions of `template`, keeping everything else."""
    it = iter(digits)
    return _DIGIT.sub(lambda _m: next(it), template)


def _rand_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _wrong_digit(rng: random.Random, *valid: int) -> str:
    """A check digit that fails every formula in `valid`."""
    return str(rng.choice([d for d in range(10) if d not in valid]))


def _fake_id13(rng: random.Random, foreigner: bool) -> str:
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(56 * 365))
    gender = rng.choice("12" if born.year < 2000 else "34")
    if foreigner:
        gender = str(int(gender) + 4)  # 1->5, 2->6, 3->7, 4->8
    first12 = born.strftime("%y%m%d") + gender + _rand_digits(rng, 5)
    return first12 + _wrong_digit(rng, rrn_check_digit(first12), frn_check_digit(first12))


def _fake_phone(rng: random.Random, national: str) -> str:
    if national.startswith("01") or (national.startswith("0") and national[1] in "3456789"):
        keep = 4 if national.startswith("050") and len(national) >= 11 else 3
    else:
        keep = 2  # 02 = Seoul
    rest = len(national) - keep
    return national[:keep] + "0" + _rand_digits(rng, rest - 1)


def _fake_email(rng: random.Random, original: str) -> str:
    local = original.split("@", 1)[0]
    fake_local = "".join(
        rng.choice(string.ascii_lowercase + string.digits) if ch.isalnum() else ch for ch in local
    )
    if not fake_local[0].isalnum():
        fake_local = "x" + fake_local[1:]
    return fake_local + "@example.com"


def _fake_canonical(kind: str, canonical: str, rng: random.Random) -> str:
    """A fake with the same canonical form (length, fixed prefixes) as `canonical`."""
    n = len(canonical)
    if kind in ("rrn", "frn") and n == 13:
        return _fake_id13(rng, kind == "frn")
    if kind == "card":
        payload = canonical[0] + _rand_digits(rng, n - 2)  # keep the network digit (4 = Visa...)
        return payload + _wrong_digit(rng, luhn_check_digit(payload))
    if kind == "brn" and n == 10:
        first9 = _rand_digits(rng, 9)
        return first9 + _wrong_digit(rng, brn_check_digit(first9))
    if kind == "crn" and n == 13:
        first12 = _rand_digits(rng, 12)
        return first12 + _wrong_digit(rng, crn_check_digit(first12))
    if kind == "phone":
        return _fake_phone(rng, canonical)
    if kind == "passport":
        return "".join(
            rng.choice(string.digits) if ch.isdigit()
            else (ch if i == 0 else rng.choice(string.ascii_uppercase))
            for i, ch in enumerate(canonical)
        )
    if kind == "driver_license":
        # Keep a leading region code (11..28): it says where, not who.
        keep = 2 if n == 12 else 0
        return canonical[:keep] + _rand_digits(rng, n - keep)
    return _rand_digits(rng, n)  # bank_account, and any odd length


class Pseudonymizer:
    """Maps (kind, identifier) to a stable fake for one dataset; holds the mapping."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._fakes: dict[tuple[str, str], str] = {}
        self._used: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        return len(self._fakes)

    @staticmethod
    def canonical(kind: str, original: str) -> str:
        """The identity of an identifier regardless of how it was written."""
        if kind == "email":
            return original.lower()
        if kind == "passport":
            return original.upper()
        if kind == "phone":
            prefix = _INTL_PREFIX.match(original)
            if prefix:  # +82 10-... is 010-...
                return "0" + _NON_DIGIT.sub("", original[prefix.end():])
        return _NON_DIGIT.sub("", original)

    def _draw(self, kind: str, canonical: str) -> str:
        for attempt in range(1000):
            key = f"{self.seed}\x1f{kind}\x1f{canonical}\x1f{attempt}".encode()
            rng = random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))
            fake = _fake_email(rng, canonical) if kind == "email" else (
                _fake_canonical(kind, canonical, rng))
            if fake != canonical and (kind, fake) not in self._used:
                return fake
        raise RuntimeError(f"could not draw a unique fake {kind}")  # needs ~10^k collisions

    def fake(self, kind: str, original: str) -> str:
        """The fake for `original`, rendered in the original's layout."""
        canonical = self.canonical(kind, original)
        fake = self._fakes.get((kind, canonical))
        if fake is None:
            fake = self._draw(kind, canonical)
            self._fakes[(kind, canonical)] = fake
            self._used.add((kind, fake))
        if kind == "email":
            return fake
        if kind == "passport":
            return fake
        if kind == "phone":
            prefix = _INTL_PREFIX.match(original)
            if prefix:
                return original[: prefix.end()] + _fill(original[prefix.end():], fake[1:])
        return _fill(original, fake)
