"""Script shares: Hangul by explicit blocks, so Chinese and English drift show up."""
import pytest

from trainers.evaluation.language import hangul_share, language_report, script_shares


def test_pure_scripts_and_neutral_characters():
    assert hangul_share("정답은 3번입니다.") == 1.0          # digits and punctuation are neutral
    assert hangul_share("12,000원") == 1.0
    assert hangul_share("答案是三") == 0.0
    assert hangul_share("The answer is C") == 0.0
    assert hangul_share("3") is None                        # no letters: no language to judge


def test_ideographs_are_not_counted_as_hangul():
    # A [ㄱ-힣] range would include 答 (U+7B54); the explicit blocks do not.
    s = script_shares("정답 答案")
    assert (s.letters, s.hangul, s.cjk, s.latin) == (4, 0.5, 0.5, 0.0)


def test_mixed_shares_add_up():
    s = script_shares("정답 is B 答")     # 2 Hangul, 3 Latin (i, s, B), 1 CJK
    assert s.letters == 6
    assert (s.hangul, s.latin, s.cjk, s.other) == pytest.approx((2 / 6, 3 / 6, 1 / 6, 0.0))
    assert script_shares("ㄱㅏ ᄀ ありがとう").other == pytest.approx(5 / 8)   # jamo in, kana other


def test_nfd_hangul_counts_the_same_as_nfc():
    import unicodedata
    nfd = unicodedata.normalize("NFD", "정답")
    assert hangul_share(nfd) == 1.0 and script_shares(nfd).letters == 2


def test_report_over_answers_only():
    outputs = [
        "<think>Let me think in English.</think>정답은 3번입니다.",   # Korean answer
        "<think>嗯</think>答案是 B",                                  # drift to Chinese
        "<think>...</think>The answer is C.",                        # drift to English
        "<think>never closed",                                       # no answer: skipped
        "<think>...</think>3",                                       # no letters: neutral
    ]
    r = language_report(outputs)
    assert r["n_with_letters"] == 3
    assert r["below_min_hangul"] == 2 and r["mostly_cjk"] == 1 and r["mostly_latin"] == 1
    assert r["mean_share"]["hangul"] == pytest.approx(1 / 3)
    whole = language_report(outputs[:1], answer_only=False)
    assert whole["mean_share"]["hangul"] < 0.5              # the English reasoning counts now
