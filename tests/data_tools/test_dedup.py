"""Exact keys ignore meta; MinHash near-dedup catches edits and spacing, not different texts."""

from data_tools.dedup import ExactDeduper, NearDeduper, exact_key, shingles, signatures

BASE = ("재무상태표는 특정 시점의 자산, 부채, 자본을 보여 주고 손익계산서는 일정 기간 동안의 수익과 비용, "
        "그리고 그 결과인 순이익을 보여 줍니다. 두 표는 이익잉여금을 통해 연결됩니다.")


def test_exact_key_ignores_meta_and_key_order():
    a = {"messages": [{"role": "user", "content": "x"}], "meta": {"source": "a", "line": 1}}
    b = {"meta": {"source": "b", "line": 9}, "messages": [{"content": "x", "role": "user"}]}
    assert exact_key(a) == exact_key(b) and len(exact_key(a)) == 16
    assert exact_key(a) != exact_key({"messages": [{"role": "user", "content": "y"}]})
    dedup = ExactDeduper()
    assert [dedup.is_duplicate(k) for k in (b"1", b"2", b"1", b"1")] == [False, False, True, True]
    assert dedup.duplicates == 2


def test_shingles_ignore_whitespace():
    assert set(shingles("가나 다라", 3)) == {"가나다".encode(), "나다라".encode()}
    assert shingles("가", 5) == ["가".encode()]


def test_minhash_estimate_tracks_true_jaccard():
    edited = BASE.replace("연결됩니다", "이어집니다")
    a, b = set(shingles(BASE, 5)), set(shingles(edited, 5))
    true = len(a & b) / len(a | b)
    sig_a, sig_b = signatures([BASE, edited], num_perm=256, shingle=5)
    estimate = (sig_a == sig_b).mean()
    assert 0.75 < true < 0.95
    assert abs(estimate - true) < 0.1  # standard error at 256 permutations is about 0.025


def test_near_deduper_flags_edits_but_not_other_texts():
    texts = [BASE,
             BASE.replace("보여 줍니다", "보여줍니다"),            # spacing only: Jaccard 1.0
             BASE.replace("두 표는", "이 두 표는"),                  # a small edit
             "부가가치세는 재화나 용역이 생산되거나 유통되는 모든 단계에서 발생하는 부가가치에 부과되는 세금입니다."]
    near = NearDeduper(threshold=0.8, num_perm=128)
    flags = [near.is_duplicate(i, sig, f"row{i}") for i, sig in enumerate(signatures(texts, 128, 5))]
    assert flags == [False, True, True, False]
    assert near.duplicates == 2 and near.examples[0]["duplicate_of"] == "row0"
