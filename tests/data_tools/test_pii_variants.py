"""find_pii on the general problems the held-out set exposed: dash and full-width variants,
space-separated licence and business numbers, English labels, and named identifiers whose digits
are one off or fail a check, for every kind that has such a shape. Each rule is checked both
ways: what it must find, and look-alikes that must stay unflagged. The identifiers here are made
up for these tests, not taken from the held-out sentences."""

import pytest

from data_tools.pii import find_pii
from data_tools.pii.checksums import brn_ok, crn_ok

DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2212", "\ufe63", "\uff0d"]


def found(text):
    return [(s.kind, s.text) for s in find_pii(text)]


def ascii_digits(text):
    return text.translate({cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)})


@pytest.mark.parametrize("dash", DASHES)
@pytest.mark.parametrize("label, number, kind", [
    ("주민번호", "800101{d}1234560", "rrn"),
    ("연락처", "010{d}2345{d}6789", "phone"),
    ("카드", "4242{d}4242{d}4242{d}4242", "card"),
    ("면허", "11{d}12{d}345678{d}90", "driver_license"),
    ("사업자", "124{d}81{d}00998", "brn"),
    ("신한은행", "110{d}123{d}456789", "bank_account"),
])
def test_every_dash_reads_as_a_hyphen_for_every_kind(dash, label, number, kind):
    number = number.format(d=dash)
    text = f"{label} {number} 확인"
    assert found(text) == [(kind, number)]  # the span slices the caller's text, dashes and all
    # ...and the score is the one the ASCII hyphen gets
    assert [s.score for s in find_pii(text)] == [s.score for s in find_pii(text.replace(dash, "-"))]


def test_full_width_digits_and_dashes_with_or_without_the_normaliser():
    from data_tools.normalize import Normalizer
    raw = "연락처 ０１０－２３４５－６７８９, 주민등록번호：８００１０１－１２３４５６０"
    expected = [("phone", "０１０－２３４５－６７８９"), ("rrn", "８００１０１－１２３４５６０")]
    assert found(raw) == expected
    # the prepare default (fullwidth: alnum) folds the digits but keeps U+FF0D: still found
    prepared = Normalizer("alnum")(raw)
    assert "－" in prepared
    assert found(prepared) == [(k, ascii_digits(t)) for k, t in expected]


def test_dash_variants_keep_the_code_boundaries():
    # a hyphen variant glued to letters still marks a code, not a free-standing number
    for dash in DASHES:
        assert found(f"LOT{dash}800101{dash}1234560") == []
    # the em dash separates clauses and is not folded
    assert found("010\u20142345\u20146789") == []


def test_spaced_licence_and_business_numbers_need_a_label():
    assert brn_ok("1248100998")
    assert found("면허 11 12 345678 90 갱신") == [("driver_license", "11 12 345678 90")]
    assert found("11 12 345678 90 (운전면허) 확인") == [("driver_license", "11 12 345678 90")]
    assert found("사업자번호 124 81 00998 변경") == [("brn", "124 81 00998")]
    assert found("사업자 124 81 00997") == [("brn", "124 81 00997")]  # a failed check, named
    # unlabelled, both are just digit groups (serials, dimensions, table cells)
    for text in ("11 12 345678 90", "124 81 00998", "규격 124 81 00998 mm", "관리번호 11 12 345678 90",
                 "면허 취득 2019 12 03"):
        assert found(text) == [], text


@pytest.mark.parametrize("text, expected", [
    ("acct 1002-123-456789", ("bank_account", "1002-123-456789")),
    ("Account No. 110-123-456789", ("bank_account", "110-123-456789")),
    ("Corp. Reg. No. 110111-1234569", ("crn", "110111-1234569")),
    ("CORP REG 130111-0006246", ("crn", "130111-0006246")),
    ("passport no. M12345678", ("passport", "M12345678")),
    ("Passport No. m12345678", ("passport", "m12345678")),
    ("mobile 010-2345-6789", ("phone", "010-2345-6789")),
    ("Tel. 02-123-4567", ("phone", "02-123-4567")),
    ("DOB/RRN 2103153456780", ("rrn", "2103153456780")),
])
def test_english_labels_name_the_kind(text, expected):
    assert found(text) == [expected]


@pytest.mark.parametrize("text", [
    "Order 8001011234560 shipped", "Order no. 800101-1234560", "Invoice 800101-1234560",
    "Tracking 6078123456789", "tracking no 800101-1234560", "Lot 800101-1234560",
    "S/N 4242-4242-4242-4242", "Serial 124-81-00998", "SKU 8801234567893",
    "Barcode 8001011234560", "EAN 8801234567893", "Coupon 4242 4242 4242 4242",
    "PIN 4242-4242-4242-4242", "쿠폰번호 4242 4242 4242 4242",
])
def test_english_non_personal_words_lower_or_reject(text):
    assert found(text) == [], text


def test_english_labels_are_whole_words():
    # "po" in "Report", "pin" in "spinning", "acct" glued to letters: no label
    assert found("Report 800101-1234560") == [("rrn", "800101-1234560")]
    assert found("spinning 4242-4242-4242-4242") == [("card", "4242-4242-4242-4242")]
    assert found("xacct 1002-123-456789") == []


@pytest.mark.parametrize("text, expected", [
    # corporate numbers with a failed check digit (the right one is 6), or a digit short
    ("법인등록번호 130111-0006243", ("crn", "130111-0006243")),
    ("130111-0006243 (법인등록번호)", ("crn", "130111-0006243")),
    ("법인등록번호 130111-000624", ("crn", "130111-000624")),
    # passports: a digit short, lower case, other countries' layouts
    ("여권번호 M1234567", ("passport", "M1234567")),
    ("여권 m123a4567", ("passport", "m123a4567")),
    ("여권 No. GB1234567", ("passport", "GB1234567")),
    ("여권번호 K7654321", ("passport", "K7654321")),
    ("여권 123456789 (미국)", ("passport", "123456789")),
    # licences: a group a digit short or long
    ("운전면허 11-12-34567-90", ("driver_license", "11-12-34567-90")),
    ("면허번호 11-12-3456789-90", ("driver_license", "11-12-3456789-90")),
    # phones: a digit short or long, one letter O for a zero
    ("연락처 010-2345-678", ("phone", "010-2345-678")),
    ("휴대폰 010-2345-67890", ("phone", "010-2345-67890")),
    ("전화 02-123-456", ("phone", "02-123-456")),
    ("연락처 010-2345-67O9", ("phone", "010-2345-67O9")),
    # cards: one group a digit short
    ("카드번호 4242-4242-4242-424", ("card", "4242-4242-4242-424")),
    # business number: the last group a digit long
    ("사업자등록번호 124-81-009981", ("brn", "124-81-009981")),
])
def test_a_label_vouches_for_a_mistyped_identifier(text, expected):
    (span,) = find_pii(text)
    assert (span.kind, span.text) == expected
    assert span.reason == "context" and 0.5 <= span.score < 1.0


def test_the_mistyped_examples_really_fail_validation():
    assert not crn_ok("1301110006243") and crn_ok("1301110006246")


@pytest.mark.parametrize("text", [
    # the same typos without a label are nothing
    "130111-0006243", "M1234567", "m12345678 입고", "11-12-34567-90", "010-2345-678",
    "010-2345-67O9", "4242-4242-4242-424", "124-81-009981",
    # a label after a loose passport shape, or a passport word with a date or a fee
    "123456789 여권", "여권 발급일 20230515", "여권 재발급 수수료 53000원", "여권번호 뒤 4자리 4475",
    # masked, not mistyped: more than one letter O
    "연락처 010-OOOO-OOOO", "연락처 010-23OO-OO89",
    # two digits off is not a typo of the shape
    "카드번호 4242-4242-424-424", "면허 11-12-3456-90", "운전면허 11-12-34567-9",
    # another label is nearer than the one that would vouch
    "면허 반납, 접수번호 11-12-34567-90", "여권 사본, 주문번호 123456789",
])
def test_loose_shapes_stay_unflagged_without_a_naming_label(text):
    assert found(text) == [], text
