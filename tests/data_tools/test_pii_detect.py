"""find_pii on hand-picked identifiers and look-alikes, one rule per test case."""

import dataclasses
import json
import time
import unicodedata
from pathlib import Path

import pytest

from data_tools.pii import PII_KINDS, Span, find_pii
from data_tools.pii.checksums import crn_ok, ean13_ok, rrn_birth_date, rrn_checksum_ok
from data_tools.pii.detect import REASONS

FIXTURES = Path(__file__).parent / "fixtures"


def found(text):
    return [(s.kind, s.text) for s in find_pii(text)]


def test_kinds_and_placeholders_are_the_published_ones():
    assert list(PII_KINDS) == ["rrn", "frn", "passport", "driver_license", "phone", "email",
                               "card", "brn", "crn", "bank_account"]
    assert PII_KINDS["rrn"] == "[주민등록번호]" and PII_KINDS["bank_account"] == "[계좌번호]"
    with pytest.raises(TypeError):
        PII_KINDS["rrn"] = "x"  # read-only


@pytest.mark.parametrize("text, expected", [
    # resident numbers: valid check digit, hyphenated or bare after a label
    ("주민등록번호 800101-1234560 확인", [("rrn", "800101-1234560")]),
    ("주민번호 8001011234560로 조회", [("rrn", "8001011234560")]),
    ("환자 900101 - 2345671 입원", [("rrn", "900101 - 2345671")]),
    # foreigner: gender digit 5..8 (this one satisfies the foreigner formula, check 3)
    ("외국인등록번호 800101-5234563", [("frn", "800101-5234563")]),
    # corporate: serial starting 0 can't be a person (gender digit 0 is refused)
    ("130111-0006246 법인 등기", [("crn", "130111-0006246")]),
    # passports: new format always; old format only with a passport word nearby
    ("출장자 M123A4567 명단", [("passport", "M123A4567")]),
    ("여권번호 M12345678", [("passport", "M12345678")]),
    ("Passport No. S98765432 attached", [("passport", "S98765432")]),
    # driver licences
    ("면허 11-12-345678-90 확인", [("driver_license", "11-12-345678-90")]),
    ("서울 12-345678-90 면허증", [("driver_license", "서울 12-345678-90")]),
    ("운전면허번호 111234567890", [("driver_license", "111234567890")]),
    # e-mail, glued to a Korean particle
    ("hong.gildong@korea.ac.kr로 보내 주세요", [("email", "hong.gildong@korea.ac.kr")]),
    # cards (Luhn-valid test numbers)
    ("카드 4242 4242 4242 4242 결제", [("card", "4242 4242 4242 4242")]),
    ("아멕스 3782-822463-10005", [("card", "3782-822463-10005")]),
    ("번호 5555555555554444", [("card", "5555555555554444")]),
    # business numbers
    ("공급자 124-81-00998 (주)삼성", [("brn", "124-81-00998")]),
    ("사업자번호 1248100998", [("brn", "1248100998")]),
    # bank accounts near a bank name or 계좌
    ("신한은행 110-123-456789 예금주 홍길동", [("bank_account", "110-123-456789")]),
    ("국민 123456-78-901234 으로", [("bank_account", "123456-78-901234")]),
    ("우리 1002 123 456789 로 보내", [("bank_account", "1002 123 456789")]),
    ("환불 계좌 3333-01-1234567 입니다", [("bank_account", "3333-01-1234567")]),
])
def test_detects(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("phone", [
    "010-1234-5678", "01012345678", "010 1234 5678", "010.1234.5678", "010 - 1234 - 5678",
    "011-234-5678", "(02) 123-4567", "02-1234-5678", "02)123-4567", "031-123-4567",
    "(031)123-4567", "070-1234-5678", "+82 10-1234-5678", "+82-2-123-4567", "+82 (0)10-1234-5678",
    "+82 010-1234-5678", "+821012345678", "(010) 1234-5678",
])
def test_phone_layouts(phone):
    assert found(f"연락처 {phone}로 회신") == [("phone", phone)]


def test_post_2020_resident_number_with_failing_checksum_is_still_found():
    # Numbers issued since Oct 2020 end in a random digit; 210315-3456782 fails the formula
    # (the formula wants 1) but is a real date with gender digit 3.
    assert not rrn_checksum_ok("2103153456782")
    assert found("아이 주민번호 210315-3456782 예방접종") == [("rrn", "210315-3456782")]
    # Bare and unlabelled, it is kept because it is not an EAN-13 barcode either.
    assert not ean13_ok("2103153456782")
    assert found("신생아 2103153456782 특약") == [("rrn", "2103153456782")]


def test_corporate_vs_resident_is_decided_by_the_label():
    # 110111-1234569: CRN check 1+2+0+2+1+2+1+4+3+8+5+12 = 41 -> 9, and also "born 1911-01-11"
    assert crn_ok("1101111234569") and rrn_birth_date("1101111234569") is not None
    assert found("법인등록번호 110111-1234569") == [("crn", "110111-1234569")]
    assert found("고객 110111-1234569") == [("rrn", "110111-1234569")]


def test_barcodes_that_read_as_birth_dates():
    barcode = next(c for c in (f"880101123456{d}" for d in range(10)) if ean13_ok(c))
    assert rrn_birth_date(barcode) is not None  # "born 1988-01-01, male": the hard case
    assert found(f"상품 바코드 {barcode} 스캔") == []
    assert found(f"{barcode} 제품 입고") == []
    assert found("바코드 8801234567893") == []  # "born 2088": not plausible anyway
    assert found(f"주민번호 {barcode}") == [("rrn", barcode)]  # a label outranks the guess


@pytest.mark.parametrize("text", [
    "part no. M12345678 재고", "부품 M12345678 입고", "자재코드 M20240315",  # old passport shape
    "99-12-345678-90", "관리코드 12-345678-90",  # licence shape, bad region / no label
    "010-12-345", "010-123-4567", "1588-1234", "010-0000-0000",  # phone-like
    "4111-1111-1111-1112", "0000-0000-0000-0000", "4242-4242-4242-4242-1",  # cards
    "124-81-00997", "1248100998", "000-00-00000",  # business shape, bad check / no label
    "110-123-456789", "신한은행 2024-0315-1234", "신한은행 2024-03-15 이전",  # accounts
    "주문번호 800101-1234560", "LOT 4242-4242-4242-4242", "S/N 110-123-456789 신한",  # labels
    "AB800101-1234560", "LOT-800101-1234560", "800101-1234560-01", "3.800101",  # boundaries
    "25.4 ± 0.1 mm", "₩1,234,567", "2024-03-15 14:30", "192.168.0.101", "ISO 9001:2015",
    "", "전화 주세요",
])
def test_look_alikes_are_not_flagged(text):
    assert found(text) == []


def test_a_label_finds_a_resident_number_whose_digits_do_not_validate():
    # Born 1986 but gender digit 3 (a 2000s birth): "born 2086", so the digits alone say nothing.
    assert rrn_birth_date("8606223744599") is None
    assert find_pii("8606223744599 접수") == []
    for text in ("주민등록번호 860622 - 3744599", "주민등록번호 860622-3744599",
                 "주민등록번호 860622 3744599", "주민번호: 8606223744599"):
        (span,) = find_pii(text)
        assert (span.kind, span.reason) == ("rrn", "context")
        assert span.text.replace(" ", "").replace("-", "") == "8606223744599"
        assert 0.5 <= span.score < 1.0
    # a digit too few or too many after the date, and an impossible month
    assert found("주민번호 860622-374459 오기재") == [("rrn", "860622-374459")]
    assert found("주민등록번호 861322-1234567") == [("rrn", "861322-1234567")]
    # the label may follow the number (weaker, still enough for a hyphenated one)
    assert found("860622-3744599 (주민등록번호) 반려") == [("rrn", "860622-3744599")]


def test_a_mistyped_foreigner_number_is_still_a_foreigner_number():
    # resident gender digit typed under a foreigner label; an impossible date
    assert found("외국인등록번호 920315-1123456 확인") == [("frn", "920315-1123456")]
    assert found("외국인등록번호 921315-5123456 확인") == [("frn", "921315-5123456")]


def test_a_validating_number_in_order_text_is_not_a_person():
    # 1201156384062 reads as a foreigner born 1912-01-15 (gender digit 6); its check digit fails,
    # which numbers issued since Oct 2020 may do, so alone it is a person.
    assert rrn_birth_date("1201156384062") is not None and not rrn_checksum_ok("1201156384062")
    assert found("1201156384062 접수") == [("frn", "1201156384062")]  # alone: a person
    assert found("주문 1201156384062 건은 출고 대기 중입니다.") == []
    assert found("1201156384062 주문 건은 오늘 출고됩니다.") == []  # words after count too
    # ...unless a label names it, which shadows the order words before it
    assert found("주문 고객 주민번호 1201156384062 확인") == [("frn", "1201156384062")]
    # phones are never code-like: an orderer's phone stays a phone
    assert found("주문자 휴대폰 없음, 배송 기사 010-1234-5678") == [("phone", "010-1234-5678")]


def test_scores_reasons_and_threshold():
    spans = find_pii("주민번호 800101-1234560, 신생아 2103153456782, hong@naver.com, "
                     "카드번호 4242-4242-4242-4243")
    assert [(s.kind, s.reason, s.score) for s in spans] == [
        ("rrn", "checksum+context", 1.0),   # 0.4 hyphen + 0.3 date + 0.2 check + 0.6 label
        ("rrn", "date", 0.55),              # 0.25 bare + 0.3 date; post-2020 random check digit
        ("email", "format", 1.0),
        ("card", "context", 0.8),           # 0.3 grouped - 0.1 failed Luhn + 0.6 label
    ]
    assert all(s.reason in REASONS for s in spans)
    # a stricter threshold drops the date-only guess, a laxer one lets the order number in
    assert [s.kind for s in find_pii("신생아 2103153456782", threshold=0.6)] == []
    assert found("주문 140108-8967391 건") == []
    assert [s.text for s in find_pii("주문 140108-8967391 건", threshold=0.4)] == ["140108-8967391"]
    # score and reason are evidence, not identity
    assert spans[2] == Span("email", spans[2].start, spans[2].end, "hong@naver.com")


@pytest.mark.parametrize("text", [
    "주민센터 민원 접수 240315-123456 처리 중", "외국인 관광객 대상 상품 8001011234560 할인",
    "주민등록등본 발급 871115-212255 건", "품번 M123A4567 부품 재고", "택배 4242-4242-4242-4242 조회",
])
def test_words_that_only_look_like_labels_vouch_for_nothing(text):
    assert found(text) == []


def test_spans_are_sorted_disjoint_and_slice_the_text():
    text = ("회원 hong@naver.com / 주민번호 800101-1234560 / 연락처 010-1234-5678 / "
            "카드 4242-4242-4242-4242 / 신한은행 110-123-456789")
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["email", "rrn", "phone", "card", "bank_account"]
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spans[0].kind = "phone"
    assert spans[0] == Span("email", 3, 17, "hong@naver.com")


def test_nfd_hangul_does_not_break_detection():
    text = "주민번호 800101-1234560, 국민은행 123456-78-901234, 여권 M12345678, 서울 12-345678-90"
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    spans = find_pii(nfd)
    # same finds (the licence span carries its region name, in the input's NFD spelling)
    assert [(s.kind, unicodedata.normalize("NFC", s.text)) for s in spans] == found(text)
    assert [s.kind for s in spans] == ["rrn", "bank_account", "passport", "driver_license"]
    assert all(nfd[s.start:s.end] == s.text for s in spans)  # offsets refer to the input


def test_speed_floor_on_fixture_rows():
    # ~20k rows/s of CPU time for these digit-dense rows; the floor only guards against a
    # catastrophic regex (backtracking) regression. CPU time, not wall: a busy neighbour stretches
    # wall-clock time (1,200 rows/s at load 10), never this process's own CPU seconds.
    rows = [json.loads(line)["text"]
            for name in ("pii_positives.jsonl", "pii_negatives.jsonl")
            for line in (FIXTURES / name).open(encoding="utf-8")]
    start = time.process_time()
    for row in rows * 3:
        find_pii(row)
    rows_per_s = 3 * len(rows) / (time.process_time() - start)
    assert rows_per_s > 3000, rows_per_s
