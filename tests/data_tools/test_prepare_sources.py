"""The pipeline over CSV, Parquet and `datasets` sources, eval splits, contamination and PII drop."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_tools.prepare import prepare
from data_tools.prepare_config import PrepareConfig


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def assert_identity(counts):
    assert counts["in"] == (counts["kept"] + counts["duplicates_exact"] + counts["duplicates_near"]
                            + counts["quarantined_total"] + counts["filtered_total"])


def test_mcqa_from_kmmlu_csv_kormedmcqa_parquet_and_a_datasets_dir(tmp_path):
    kmmlu = tmp_path / "kmmlu.csv"
    with open(kmmlu, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer", "A", "B", "C", "D", "Category", "Human Accuracy"])
        w.writerow(["선반 가공에서 절삭 속도의 단위는?", 1, "m/min", "kg", "N", "Pa", "Machine Design", 0.4])
        w.writerow(["용접 결함 중 내부 결함은?", 3, "언더컷", "오버랩", "기공", "스패터", "Machine Design", 0.5])
        w.writerow(["피로 한도를 높이는 표면 처리는?", 7, "쇼트피닝", "풀림", "불림", "뜨임", "Machine Design", 0.3])
        w.writerow(["열처리에서 담금질 후 하는 작업은?", 4, "풀림", "불림", "침탄", "뜨임"])  # short row
    med = tmp_path / "kormedmcqa.parquet"
    pq.write_table(pa.table({
        "question": ["고혈압 1차 치료제로 옳은 것은?", "당뇨병 진단 기준으로 옳은 것은?"],
        "A": ["이뇨제", "공복혈당 90"], "B": ["항생제", "공복혈당 126 이상"], "C": ["진통제", "당화혈색소 5"],
        "D": ["수면제", "식후혈당 100"], "E": ["항히스타민제", "요당 음성"],
        "answer": [1, 2], "subject": ["doctor", "doctor"], "year": [2022, 2023]}), med)
    datasets = pytest.importorskip("datasets")
    hf = tmp_path / "hf"
    datasets.Dataset.from_dict({"question": ["품질 관리 도구가 아닌 것은?"], "choices": [["파레토도", "특성요인도", "간트차트", "관리도"]],
                                "answer": ["C"]}).save_to_disk(str(hf))
    cfg = PrepareConfig(
        inputs=[{"path": str(kmmlu), "adapter": "kmmlu", "passthrough": ["Human Accuracy"]},
                {"path": str(med), "adapter": "kormedmcqa", "fields": {"category": "subject"},
                 "passthrough": ["year"], "split": "eval"},
                {"path": str(hf), "category": "품질관리"}],
        output={"dir": str(tmp_path / "out"), "eval_fraction": 0.0},
        quality={"min_chars": 4}, workers=1)
    card = prepare(cfg, progress=False)
    counts = card["counts"]
    assert (counts["in"], counts["kept"], counts["per_split"]) == (7, 5, {"train": 3, "eval": 2})
    assert counts["quarantined"] == {"bad_answer": 1, "bad_csv_row": 1}
    assert_identity(counts)
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert train[0] == {"question": "선반 가공에서 절삭 속도의 단위는?", "choices": ["m/min", "kg", "N", "Pa"],
                        "answer": 1, "category": "Machine Design",
                        "meta": {"source": str(kmmlu), "line": 2, "Human Accuracy": "0.4"}}
    assert train[2]["answer"] == 3 and train[2]["category"] == "품질관리" and train[2]["meta"]["line"] == 1
    evals = read_jsonl(tmp_path / "out" / "eval.jsonl")
    assert [e["answer"] for e in evals] == [1, 2] and len(evals[0]["choices"]) == 5
    assert evals[1]["meta"] == {"source": str(med), "line": 2, "year": 2023}
    assert card["kind"] == "mcqa" and [i["format"] for i in card["inputs"]] == ["csv", "parquet", "hf_dir"]


def test_eval_source_wins_duplicates_and_contaminated_train_rows_are_removed(tmp_path):
    question = "다음 중 재무제표의 구성 요소가 아닌 것을 고르고 그 이유를 설명하시오"
    shared = {"instruction": "부가가치세의 과세 대상을 설명하시오", "output": "재화와 용역의 공급, 재화의 수입입니다."}
    write_jsonl(tmp_path / "train.jsonl", [
        shared,
        {"instruction": f"참고 문제: {question}", "output": "주석은 재무제표에 포함됩니다. 정답은 현금흐름이 아닌 항목입니다."},
        {"instruction": "감가상각의 의미를 설명하시오", "output": "자산의 취득원가를 내용연수에 걸쳐 비용으로 배분하는 것입니다."},
    ])
    write_jsonl(tmp_path / "eval.jsonl", [{"instruction": question, "output": "재무제표 구성 요소에 대한 답"}, shared])
    cfg = PrepareConfig(inputs=[{"path": str(tmp_path / "train.jsonl")},
                                {"path": str(tmp_path / "eval.jsonl"), "split": "eval"}],
                        output={"dir": str(tmp_path / "out"), "eval_fraction": 0.0},
                        contamination={"action": "remove"}, workers=1)
    card = prepare(cfg, progress=False)
    counts = card["counts"]
    assert counts["per_split"] == {"train": 1, "eval": 2}
    assert counts["duplicates_exact"] == 1 and counts["contaminated"] == 1
    assert counts["filtered"] == {"contaminated": 1}
    assert_identity(counts)
    evals = read_jsonl(tmp_path / "out" / "eval.jsonl")
    assert [e["meta"]["source"] for e in evals] == [str(tmp_path / "eval.jsonl")] * 2  # eval copy kept
    example = card["contamination"]["examples"][0]
    assert example == {"train": f"{tmp_path / 'train.jsonl'}:2", "eval": f"{tmp_path / 'eval.jsonl'}:1",
                       "overlap": 1.0}
    quarantined = read_jsonl(tmp_path / "out" / "quarantine.jsonl")
    assert [(q["line"], q["stage"], q["reason"]) for q in quarantined] == [(2, "filtered", "contaminated")]


def test_contamination_report_only_keeps_the_row(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"instruction": "원가 회계의 목적을 한 문장으로 설명하시오 바로", "output": "원가 계산입니다."}])
    write_jsonl(tmp_path / "e.jsonl", [{"instruction": "원가 회계의 목적을 한 문장으로 설명하시오", "output": "다른 답"}])
    cfg = PrepareConfig(inputs=[{"path": str(tmp_path / "t.jsonl")},
                                {"path": str(tmp_path / "e.jsonl"), "split": "eval"}],
                        output={"dir": str(tmp_path / "out")}, workers=1)
    counts = prepare(cfg, progress=False)["counts"]
    assert counts["contaminated"] == 1 and counts["per_split"] == {"train": 1, "eval": 1} and counts["filtered"] == {}


def test_pii_drop_mode_filters_rows_and_quarantine_raw_is_masked(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [
        {"instruction": "연락처를 알려 주세요", "output": "담당자 번호는 010-2345-6789 입니다."},
        {"instruction": "영업 시간을 알려 주세요", "output": "평일 오전 9시부터 오후 6시까지입니다."},
        "전화 010-2345-6789 로 연락 주세요",  # a JSON string, not an object: quarantined
    ])
    cfg = PrepareConfig(inputs=[{"path": str(tmp_path / "a.jsonl")}], output={"dir": str(tmp_path / "out")},
                        pii={"mode": "drop"}, workers=1)
    card = prepare(cfg, progress=False)
    assert card["counts"]["filtered"] == {"pii_dropped": 1} and card["counts"]["kept"] == 1
    assert card["pii"]["rows_dropped"] == 1
    quarantine = (tmp_path / "out" / "quarantine.jsonl").read_text(encoding="utf-8")
    assert "010-2345-6789" not in quarantine and quarantine.count("[전화번호]") == 2
