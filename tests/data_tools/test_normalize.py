"""Normalisation: NFC, full-width folding, protected literals, control characters, whitespace."""

import unicodedata

import pytest

from data_tools.normalize import Normalizer, tidy_whitespace
from data_tools.quarantine import RowRejected


def test_nfd_hangul_becomes_nfc_syllables():
    nfd = unicodedata.normalize("NFD", "한국어 금융")
    assert len(nfd) == 15  # 한 국 금 융 have 3 jamo each, 어 has 2; plus the space
    out = Normalizer()(nfd)
    assert out == "한국어 금융" and len(out) == 6


def test_fullwidth_alnum_folds_letters_and_digits_only():
    out = Normalizer()("ＫＲＷ１２３，５００원（부가세）")
    assert out == "KRW123，500원（부가세）"  # full-width punctuation stays in "alnum" mode


def test_fullwidth_all_folds_punctuation_but_keeps_literals():
    norm = Normalizer(fullwidth="all", keep_literals=["정답："])
    assert norm("문제（１）：답은？ 정답：３") == "문제(1):답은? 정답：3"
    assert Normalizer(fullwidth="none")("１２") == "１２"


def test_literal_given_in_nfd_still_protected():
    norm = Normalizer(fullwidth="all", keep_literals=[unicodedata.normalize("NFD", "정답：")])
    assert norm(unicodedata.normalize("NFD", "정답：２")) == "정답：2"


def test_control_characters_removed_or_quarantined():
    text = "가\x00나\x07다\u200b라\ufeff마\x9f"
    assert Normalizer()(text) == "가나다라마"
    with pytest.raises(RowRejected) as err:
        Normalizer(control_chars="quarantine")(text)
    assert err.value.reason == "control_chars" and "U+0000" in err.value.detail


def test_lone_surrogate_quarantined_by_default_or_removed():
    with pytest.raises(RowRejected) as err:
        Normalizer()("깨진\ud800문자")
    assert err.value.reason == "invalid_surrogate" and "U+D800" in err.value.detail
    assert Normalizer(surrogates="remove")("깨진\ud800문자") == "깨진문자"


def test_whitespace_tidied():
    raw = "  첫 줄\t\t끝  \r\n\r\n\r\n\r\n둘째\u3000\u00a0줄  "
    assert Normalizer()(raw) == "첫 줄 끝\n\n둘째 줄"
    assert tidy_whitespace("a \n b") == "a\nb"
