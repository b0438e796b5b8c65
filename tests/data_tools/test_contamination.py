"""Contamination: share of an eval row's word n-grams found in one train row."""

from data_tools.contamination import EvalIndex, word_ngrams


def test_word_ngrams():
    assert word_ngrams("a b c d", 3) == {("a", "b", "c"), ("b", "c", "d")}
    assert word_ngrams("a b", 3) == {("a", "b")}
    assert word_ngrams("", 3) == set()


def test_overlap_share_is_measured_on_the_eval_row():
    index = EvalIndex(n=3, threshold=0.5)
    index.add("다음 중 재무제표의 구성 요소가 아닌 것은", "eval:1")  # 7 words -> 5 trigrams
    # A train row quoting the whole question inside a longer text: 5/5 of eval:1's trigrams.
    assert index.match("해설: 다음 중 재무제표의 구성 요소가 아닌 것은 무엇인지 살펴보자") == ("eval:1", 1.0)
    # Shares "재무제표의 구성 요소가" (2 trigrams of 5 = 0.4): below threshold.
    assert index.match("회사의 재무제표의 구성 요소가 궁금하다") is None
    # 3 of 5 = 0.6: contaminated.
    assert index.match("보기 다음 중 재무제표의 구성 요소가") == ("eval:1", 0.6)


def test_short_eval_rows_match_as_a_whole():
    index = EvalIndex(n=8, threshold=1.0)
    index.add("부가가치세 세율은", "eval:short")
    assert len(index) == 1
    assert index.match("한국의 부가가치세 세율은 10%이다") == ("eval:short", 1.0)
    assert index.match("부가가치세 세율 10%") is None
