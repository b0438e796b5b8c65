"""Redactor modes (mask / pseudonymize / drop) and its report."""

import json
import re
from pathlib import Path

import pytest

from data_tools.errors import DataError
from data_tools.pii import PII_KINDS, Redactor, redact
from data_tools.pii.checksums import brn_ok, crn_ok, luhn_ok, rrn_checksum_ok

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = ("고객 홍길동 주민번호 800101-1234560, 연락처 010-1234-5678, 이메일 hong@naver.com, "
        "카드 4242-4242-4242-4242, 사업자 124-81-00998")


def replacements(source: str, result) -> list[str]:
    """What each span was replaced by: the text between the unchanged pieces of `source`."""
    out, pos, found = result.text, 0, []
    for i, span in enumerate(result.spans):
        prev_end = result.spans[i - 1].end if i else 0
        pos += span.start - prev_end  # skip the unchanged text before this span
        next_start = result.spans[i + 1].start if i + 1 < len(result.spans) else len(source)
        tail = source[span.end:next_start]
        end = out.index(tail, pos) if tail else len(out)
        found.append(out[pos:end])
        pos = end
    return found


def shape(text: str) -> str:
    """Digits -> 9 and letters -> A: what a pseudonym must keep."""
    return re.sub(r"[A-Z]", "A", re.sub(r"[0-9]", "9", text))


def test_mask_writes_korean_placeholders():
    assert redact(TEXT) == ("고객 홍길동 주민번호 [주민등록번호], 연락처 [전화번호], 이메일 [이메일], "
                            "카드 [카드번호], 사업자 [사업자등록번호]")
    assert redact("개인정보 없음 3.2mm") == "개인정보 없음 3.2mm"


def test_pseudonyms_keep_shape_and_are_consistent():
    r = Redactor("pseudonymize", seed=7)
    result = r(TEXT)
    fakes = dict(zip([s.kind for s in result.spans], replacements(TEXT, result)))
    assert list(fakes) == ["rrn", "phone", "email", "card", "brn"]
    for span in result.spans:
        if span.kind != "email":  # e-mail keeps its user-part layout, moves to example.com
            assert shape(fakes[span.kind]) == shape(span.text) and fakes[span.kind] != span.text
    assert re.fullmatch(r"[a-z0-9]{4}@example\.com", fakes["email"])
    assert fakes["phone"].startswith("010-0")  # operator kept, unassignable subscriber part
    # The same identifier, even written differently, gets the same fake in one Redactor.
    again = r("다시 010-1234-5678 그리고 01012345678 또 +82 10-1234-5678").text
    fake = fakes["phone"]
    assert again == f"다시 {fake} 그리고 {fake.replace('-', '')} 또 +82 {fake[1:]}"


def test_pseudonyms_never_pass_a_checksum():
    r = Redactor("pseudonymize", seed=1)
    rows = [json.loads(line) for line in (FIXTURES / "pii_positives.jsonl").open(encoding="utf-8")]
    checked = {"rrn": 0, "frn": 0, "card": 0, "brn": 0, "crn": 0, "phone": 0}
    for row in rows:
        result = r(row["text"])
        for span, fake in zip(result.spans, replacements(row["text"], result)):
            digits = re.sub(r"[^0-9]", "", fake)
            if span.kind in ("rrn", "frn"):  # a mistyped 12/14-digit one stays no one's number
                assert len(digits) != 13 or not rrn_checksum_ok(digits), fake
                assert len(digits) == len(re.sub(r"[^0-9]", "", span.text))
            elif span.kind == "card":
                assert not luhn_ok(digits), fake
            elif span.kind == "brn":
                assert not brn_ok(digits), fake
            elif span.kind == "crn":
                assert not crn_ok(digits), fake
            elif span.kind == "phone" and not span.text.startswith("+"):
                # subscriber part starts with 0: never assigned (010-0xxx, 02-0xx ...)
                prefix = 2 if digits.startswith("02") else 3
                assert digits[prefix] == "0", fake
            if span.kind in checked:
                checked[span.kind] += 1
    assert min(checked.values()) >= 25, checked


def test_pseudonyms_are_deterministic_and_order_free():
    texts = ["주민번호 800101-1234560", "카드 4242-4242-4242-4242", "연락처 010-1234-5678"]
    a = [Redactor("pseudonymize", seed=3)(t).text for t in texts]
    b = [Redactor("pseudonymize", seed=3)(t).text for t in texts]
    r = Redactor("pseudonymize", seed=3)
    reversed_run = [r(t).text for t in reversed(texts)][::-1]
    other_seed = [Redactor("pseudonymize", seed=4)(t).text for t in texts]
    assert a == b == reversed_run
    assert all(x != y for x, y in zip(a, other_seed))


def test_drop_mode_and_report_counts_add_up():
    r = Redactor("drop")
    rows = ["연락처 010-1234-5678, 02-123-4567", "개인정보 없음", "주민번호 800101-1234560",
            "hong@naver.com 010-2345-6789", "LOT-2024-0315-A"]
    outs = [r(t).text for t in rows]
    assert outs == [None, "개인정보 없음", None, None, "LOT-2024-0315-A"]
    report = r.report_dict()
    assert report["mode"] == "drop"
    assert report["counts"]["phone"] == 3 and report["counts"]["rrn"] == 1
    assert report["counts"]["email"] == 1
    assert report["total"] == 5 == sum(report["counts"].values()) == sum(r.report.values())
    assert (report["rows_seen"], report["rows_with_pii"], report["rows_dropped"]) == (5, 3, 3)
    assert list(report["counts"]) == list(PII_KINDS)


def test_report_over_the_labelled_set_matches_the_spans():
    r = Redactor("mask")
    rows = [json.loads(line) for line in (FIXTURES / "pii_positives.jsonl").open(encoding="utf-8")]
    n_spans = sum(len(r(row["text"]).spans) for row in rows)
    gold = sum(len(row["pii"]) for row in rows)
    report = r.report_dict()
    assert report["total"] == n_spans == sum(report["counts"].values())
    assert report["total"] >= 0.97 * gold
    assert report["rows_with_pii"] == len(rows) and report["rows_dropped"] == 0


def test_bad_input_raises_data_error():
    with pytest.raises(DataError, match="mode 'hash'"):
        Redactor("hash")
    with pytest.raises(DataError, match="seed"):
        Redactor("pseudonymize", seed="7")
    with pytest.raises(DataError, match="got NoneType"):
        Redactor()(None)
