"""cls records ({"text", "label"}): detection, field mapping, the label allow-list, and the pipeline
(dedup and contamination on the text, per-label counts in the datacard)."""

import json
import unicodedata

import pytest

from data_tools.errors import DataError
from data_tools.prepare import prepare
from data_tools.prepare_config import PrepareConfig, validate_config
from data_tools.quarantine import RowRejected
from data_tools.schema import check_label, record_kind, record_text, to_record
from tests.helpers import input_spec, rejection_reason


spec, reason = input_spec, rejection_reason


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_text_label_rows_are_detected_and_only_those():
    rec = to_record({"text": "카드 분실했어요", "label": "카드"}, spec(), "s.jsonl", 4)
    assert rec == {"text": "카드 분실했어요", "label": "카드", "meta": {"source": "s.jsonl", "line": 4}}
    assert record_kind(rec) == "cls" and record_text(rec) == "카드 분실했어요"
    # A row with more than text+label is not claimed unless the extra keys are passed through ...
    assert reason({"text": "x", "label": "y", "id": 1}) == "unknown_schema"
    assert to_record({"text": "x", "label": "y", "id": 1}, spec(passthrough=["id"]), "s", 1)["meta"]["id"] == 1
    # ... or the adapter is named.
    assert to_record({"text": "x", "label": "y", "id": 1}, spec(adapter="cls"), "s", 1)["label"] == "y"


def test_korean_column_names_via_fields():
    s = spec(fields={"text": "문의내용", "label": "분야"})
    assert to_record({"문의내용": "환전 수수료", "분야": "외환·송금"}, s, "s", 1)["text"] == "환전 수수료"
    assert reason({"문의내용": "환전 수수료"}, adapter="cls", fields={"text": "문의내용", "label": "분야"}) \
        == "missing_field"
    assert reason({"text": "x", "label": 3}) == "wrong_type"
    assert reason({"text": " ", "label": "카드"}, adapter="cls") == "empty_field"


def test_label_allow_list_from_labels_or_task():
    assert spec(labels=["가", "나"]).allowed_labels() == ("가", "나")
    assert spec(task="finance").allowed_labels()[:2] == ("대출", "예금·적금")
    assert spec().allowed_labels() is None
    check_label({"text": "x", "label": "카드"}, spec(task="finance").allowed_labels())
    with pytest.raises(RowRejected) as err:
        check_label({"text": "x", "label": "신용카드"}, spec(task="finance").allowed_labels())
    assert err.value.reason == "unknown_label" and "'신용카드'" in err.value.detail


def test_label_config_errors():
    def error(inp):
        with pytest.raises(DataError) as err:
            validate_config({"inputs": [{"path": "a.jsonl", **inp}]}, where="c.yaml")
        return str(err.value)
    assert "unknown cls task 'finace' (did you mean 'finance'?)" in error({"task": "finace"})
    assert "set labels or task, not both" in error({"task": "finance", "labels": ["대출"]})
    assert "cls rows only, not to adapter 'kmmlu'" in error({"adapter": "kmmlu", "labels": ["A"]})


def test_pipeline_dedups_on_text_quarantines_unknown_labels_and_counts_per_label(tmp_path):
    long_text = "지난달 해외 가맹점에서 결제된 내역이 있는데 저는 그 기간에 해외에 간 적이 없습니다 확인 부탁드립니다"
    eval_text = "모르는 번호로 검찰청이라며 계좌 이체를 요구하는 전화가 왔어요"
    write_jsonl(tmp_path / "train.jsonl", [
        {"text": long_text, "label": "카드"},                                    # kept
        {"text": unicodedata.normalize("NFD", long_text), "label": "카드"},      # exact dup after NFC
        {"text": long_text, "label": "전자금융사기"},                            # exact dup: same text
        {"text": long_text.replace("부탁드립니다", "부탁드려요"), "label": "카드"},  # near dup
        {"text": "대출 한도 조회", "label": "대출상품"},                         # unknown_label
        {"text": "연금 수령 나이", "label": unicodedata.normalize("NFD", "연금")},  # NFD label: kept
        {"text": "연락은 010-2345-6789로 주세요 적금 해지", "label": "예금·적금"},  # kept, phone masked
        {"text": f"참고로 지난번 건: {eval_text} 이것도 같이", "label": "전자금융사기"},  # contaminated
    ])
    write_jsonl(tmp_path / "eval.jsonl", [{"text": eval_text, "label": "전자금융사기"}])
    cfg = PrepareConfig(inputs=[{"path": str(tmp_path / "train.jsonl"), "task": "finance"},
                                {"path": str(tmp_path / "eval.jsonl"), "task": "finance", "split": "eval"}],
                        output={"dir": str(tmp_path / "out"), "eval_fraction": 0.0},
                        quality={"min_chars": 2}, contamination={"action": "remove"}, workers=1)
    card = prepare(cfg, progress=False)
    c = card["counts"]
    assert card["kind"] == "cls"
    assert (c["in"], c["kept"], c["duplicates_exact"], c["duplicates_near"]) == (9, 4, 2, 1)
    assert c["quarantined"] == {"unknown_label": 1} and c["filtered"] == {"contaminated": 1}
    assert c["in"] == c["kept"] + c["duplicates_exact"] + c["duplicates_near"] + 1 + 1
    assert c["per_split"] == {"train": 3, "eval": 1}
    assert c["per_label"]["train"] == {"대출": 0, "예금·적금": 1, "카드": 1, "보험": 0, "펀드·투자": 0,
                                       "외환·송금": 0, "전자금융사기": 0, "연금": 1}
    assert sum(c["per_label"]["eval"].values()) == 1 and c["per_label"]["eval"]["전자금융사기"] == 1
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert [(r["text"], r["label"]) for r in train] == [
        (long_text, "카드"), ("연금 수령 나이", "연금"), ("연락은 [전화번호]로 주세요 적금 해지", "예금·적금")]
    assert card["pii"]["counts"]["phone"] == 1
    quarantine = read_jsonl(tmp_path / "out" / "quarantine.jsonl")
    assert [(q["line"], q["reason"]) for q in quarantine] == [(5, "unknown_label"), (8, "contaminated")]
    assert "'대출상품' is not one of ['대출'" in quarantine[0]["detail"]
