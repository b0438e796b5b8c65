"""Quality rules: Hangul by explicit blocks (not [ㄱ-힣]), repetition, length."""

import re

from data_tools.quality import QualityRules, hangul_ratio, is_hangul, repetition_ratio


def test_hangul_blocks_are_exact():
    assert all(is_hangul(c) for c in ["가", "힣", "ㄱ", "ㆎ", "\u1100", "\u11ff", "\ua960", "\ud7b0", "\ud7ff"])
    assert not any(is_hangul(c) for c in ["漢", "字", "あ", "A", "1", "\ud7a4", "\u3190"])


def test_cjk_is_not_hangul_unlike_the_naive_range():
    text = "漢字混用文"
    assert len(re.findall("[ㄱ-힣]", text)) == 5  # the naive range counts every ideograph
    assert hangul_ratio(text) == 0.0


def test_hangul_ratio_counts_letters_only():
    assert hangul_ratio("가나다 ABC") == 0.5
    assert hangul_ratio("금리 3.5%, 1,000,000원") == 1.0  # digits and punctuation are neutral
    assert hangul_ratio("12345 !!") == 0.0
    assert abs(hangul_ratio("한국 漢字") - 0.5) < 1e-12


def test_repetition_ratio_numbers():
    assert repetition_ratio("ㅋ" * 30, n=10) == 1 - 1 / 21
    assert repetition_ratio("가나다라마바사아자차카타파하", n=10) == 0.0
    assert repetition_ratio("짧다", n=10) == 0.0
    assert abs(repetition_ratio("가나다라마" * 4, n=5) - (1 - 5 / 16)) < 1e-12


def test_rules_report_first_failure():
    rules = QualityRules(min_chars=5, max_chars=40, min_hangul_ratio=0.5, max_repetition=0.5, repetition_ngram=5)
    assert rules.failure("짧음")[0] == "too_short"
    assert rules.failure("가" * 41)[0] == "too_long"
    assert rules.failure("English text only")[0] == "low_hangul"
    assert rules.failure("하하하하하하하하하하하하")[0] == "repetitive"
    assert rules.failure("부가가치세 세율은 10%입니다.") is None
