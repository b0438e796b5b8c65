"""dedup.near_threshold decides: a pair at Jaccard ~0.7 (5-character shingles) is two rows at
threshold 0.9 and one row at 0.5 — in the deduper itself and through `kdtune data prepare`."""
import json

import pytest

from data_tools.dedup import NearDeduper, shingles, signatures
from data_tools.prepare import prepare
from data_tools.prepare_config import default_config

QUESTION = "재무상태표와 손익계산서의 차이를 설명해 주세요."
ANSWER = ("재무상태표는 특정 시점의 자산, 부채, 자본을 보여 주고 손익계산서는 일정 기간 동안의 수익과 비용, "
          "그리고 그 결과인 순이익을 보여 줍니다. 두 표는 이익잉여금을 통해 연결됩니다. "
          "현금흐름표는 영업, 투자, 재무 활동의 현금 변동을 보여 줍니다.")
EDITED = ANSWER.replace("현금흐름표는 영업, 투자, 재무 활동의 현금 변동을 보여 줍니다.",
                        "현금흐름표는 돈이 실제로 들어오고 나간 내역을 정리합니다.")
TEXTS = [QUESTION + "\n" + ANSWER, QUESTION + "\n" + EDITED]   # what near-dedup sees of a chat row


def test_the_pair_is_near_jaccard_0_7():
    a, b = (set(shingles(t, 5)) for t in TEXTS)
    assert 0.65 < len(a & b) / len(a | b) < 0.75
    sig_a, sig_b = signatures(TEXTS, num_perm=128, shingle=5)
    assert 0.6 < (sig_a == sig_b).mean() < 0.8      # the estimate is clear of both thresholds


@pytest.mark.parametrize("threshold,flagged", [(0.9, False), (0.5, True)])
def test_deduper_follows_its_threshold(threshold, flagged):
    near = NearDeduper(threshold=threshold, num_perm=128)
    flags = [near.is_duplicate(i, sig, f"row{i}") for i, sig in enumerate(signatures(TEXTS, 128, 5))]
    assert flags == [False, flagged] and near.duplicates == int(flagged)


@pytest.mark.parametrize("threshold,kept", [(0.9, 2), (0.5, 1)])
def test_prepare_uses_the_configured_threshold(tmp_path, threshold, kept):
    src = tmp_path / "chats.jsonl"
    src.write_text("".join(json.dumps({"messages": [{"role": "user", "content": QUESTION},
                                                    {"role": "assistant", "content": a}]}, ensure_ascii=False) + "\n"
                           for a in (ANSWER, EDITED)), encoding="utf-8")
    out = tmp_path / "out"
    cfg = default_config([str(src)], str(out), [f"dedup.near_threshold={threshold}", "output.eval_fraction=0.0"])
    card = prepare(cfg, progress=False)
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == kept and card["counts"]["duplicates_near"] == 2 - kept
    assert rows[0]["messages"][1]["content"] == ANSWER      # the first occurrence is the one kept
