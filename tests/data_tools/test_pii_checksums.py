"""Check-digit rules against numbers worked out by hand (arithmetic in the comments)."""

import datetime

from data_tools.pii.checksums import (
    brn_check_digit, brn_ok, crn_check_digit, crn_ok, ean13_ok, frn_check_digit, luhn_check_digit,
    luhn_ok, rrn_birth_date, rrn_check_digit, rrn_checksum_ok,
)


def test_rrn_check_digit_by_hand():
    # 800101-123456?: weights 2,3,4,5,6,7,8,9,2,3,4,5
    # 8*2+0*3+0*4+1*5+0*6+1*7+1*8+2*9+3*2+4*3+5*4+6*5 = 16+5+7+8+18+6+12+20+30 = 122
    # 122 mod 11 = 1 -> (11 - 1) mod 10 = 0
    assert rrn_check_digit("800101123456") == 0
    assert rrn_checksum_ok("8001011234560")
    assert not rrn_checksum_ok("8001011234567")
    # 210315-345678?: 4+3+0+15+6+35+24+36+10+18+28+40 = 219; 219 mod 11 = 10 -> (11-10) mod 10 = 1
    assert rrn_check_digit("210315345678") == 1


def test_foreigner_check_digit_by_hand():
    # 800101-523456?: 16+0+0+5+0+7+5*8+2*9+3*2+4*3+5*4+6*5 = 16+5+7+40+18+6+12+20+30 = 154
    # 154 mod 11 = 0 -> foreigner (13 - 0) mod 10 = 3; resident formula (11 - 0) mod 10 = 1
    assert frn_check_digit("800101523456") == 3
    assert rrn_check_digit("800101523456") == 1
    assert rrn_checksum_ok("8001015234563") and rrn_checksum_ok("8001015234561")
    assert not rrn_checksum_ok("8001015234569")


def test_rrn_birth_date_plausibility():
    today = datetime.date(2025, 6, 1)
    assert rrn_birth_date("8001011234560", today) == datetime.date(1980, 1, 1)
    assert rrn_birth_date("0002293123456", today) == datetime.date(2000, 2, 29)  # leap year
    assert rrn_birth_date("0102293123456", today) is None  # 2001-02-29 does not exist
    assert rrn_birth_date("8013011234560", today) is None  # month 13
    assert rrn_birth_date("9001019234567", today) is None  # 9/0 (1800s) deliberately refused
    assert rrn_birth_date("9001010234567", today) is None
    assert rrn_birth_date("2507014123456", today) is None  # 2025-07-01 is after "today"
    assert rrn_birth_date("8801234567893", today) is None  # barcode: "born" 2088-01-23
    assert rrn_birth_date("9001016234567", today) == datetime.date(1990, 1, 1)  # foreigner 1900s


def test_luhn_by_hand():
    # 7992739871?: walking from the right, double the 1st, 3rd, 5th ... payload digit
    # (subtract 9 when it passes 9): 1->2, 7, 8->16->7, 9, 3->6, 7, 2->4, 9, 9->18->9, 7
    # sum = 2+7+7+9+6+7+4+9+9+7 = 67 -> (10 - 7) mod 10 = 3, the textbook answer.
    assert luhn_check_digit("7992739871") == 3
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")
    assert luhn_ok("4111111111111111")  # the standard Visa test number
    assert not luhn_ok("4111111111111112")


def test_business_number_by_hand():
    # 124-81-0099?: 1*1+2*3+4*7+8*1+1*3+0*7+0*1+9*3+9*5 = 1+6+28+8+3+0+0+27+45 = 118
    # plus floor(9*5/10) = 4 -> 122 -> (10 - 2) mod 10 = 8
    assert brn_check_digit("124810099") == 8
    assert brn_ok("1248100998")
    assert not brn_ok("1248100997")
    # 220-81-6251?: 2+6+0+8+3+42+2+15+5 = 83, floor(1*5/10) = 0 -> (10 - 3) mod 10 = 7
    assert brn_ok("2208162517")
    assert not brn_ok("124810099")  # 9 digits is not a business number


def test_corporate_number_by_hand():
    # 130111-000624?: weights 1,2,1,2,...: 1+6+0+2+1+2+0+0+0+12+2+8 = 34 -> (10 - 4) mod 10 = 6
    assert crn_check_digit("130111000624") == 6
    assert crn_ok("1301110006246")
    assert not crn_ok("1301110006245")


def test_ean13_by_hand():
    # 880123456789?: weights 1,3: 8+24+0+3+2+9+4+15+6+21+8+27 = 127 -> (10 - 7) mod 10 = 3
    assert ean13_ok("8801234567893")
    assert not ean13_ok("8801234567890")
