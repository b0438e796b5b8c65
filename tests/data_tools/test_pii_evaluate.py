"""evaluate_pii: the labelled set's quality bar, its matching rule, and the CLI table."""

import importlib.util
import json
from pathlib import Path

import pytest

from data_tools.errors import DataError
from data_tools.pii import PII_KINDS, evaluate_pii
from data_tools.pii.evaluate import main

FIXTURES = Path(__file__).parent / "fixtures"
POSITIVES, NEGATIVES = FIXTURES / "pii_positives.jsonl", FIXTURES / "pii_negatives.jsonl"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_labelled_set_meets_the_bar():
    result = evaluate_pii(POSITIVES, NEGATIVES)
    assert result["rows"]["negatives"] >= 120
    assert sum(result["gold"].values()) >= 300
    assert all(result["gold"][kind] >= 25 for kind in PII_KINDS), result["gold"]
    assert result["overall_recall"] >= 0.97
    assert all(result["recall"][kind] >= 0.9 for kind in PII_KINDS), result["recall"]
    assert result["negatives_flagged"] == 0, result["false_positives"]


def test_fixtures_are_reproducible_from_templates(tmp_path):
    spec = importlib.util.spec_from_file_location("make_pii_fixtures",
                                                  FIXTURES / "make_pii_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("pii_positives.jsonl", "pii_negatives.jsonl"):
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_matching_rule_recall_precision_and_false_positives(tmp_path):
    pos = write_jsonl(tmp_path / "pos.jsonl", [
        # exact match: found
        {"text": "연락처 010-1234-5678", "pii": [{"kind": "phone", "text": "010-1234-5678"}]},
        # gold includes a trailing space: overlap 14/15 >= 90%, found
        {"text": "주민번호 800101-1234560 끝", "pii": [{"kind": "rrn", "text": "800101-1234560 "}]},
        # gold includes the label: overlap 14/19 < 90%, missed
        {"text": "주민번호 800101-1234560", "pii": [{"kind": "rrn", "text": "주민번호 800101-1234560"}]},
        # right place, wrong kind: missed, and the prediction is a false positive
        {"text": "카드 4242-4242-4242-4242", "pii": [{"kind": "bank_account",
                                                   "text": "4242-4242-4242-4242"}]},
    ])
    neg = write_jsonl(tmp_path / "neg.jsonl", [{"text": "3.2mm"}, {"text": "hong@naver.com"}])
    result = evaluate_pii(pos, neg)
    assert result["gold"]["rrn"] == 2 and result["found"]["rrn"] == 1
    assert result["recall"]["rrn"] == 0.5 and result["recall"]["phone"] == 1.0
    assert result["recall"]["bank_account"] == 0.0 and result["recall"]["passport"] is None
    assert result["overall_recall"] == 2 / 4
    # rrn: 2 predictions, 1 matches a gold span -> precision 0.5; email only on negatives -> 0
    assert result["precision"]["rrn"] == 0.5 and result["precision"]["email"] == 0.0
    assert result["negatives_flagged"] == 1
    assert [(fp["file"], fp["kind"]) for fp in result["false_positives"]] == [
        ("positives", "rrn"), ("positives", "card"), ("negatives", "email")]
    assert result["false_positives"][2]["text"] == "hong@naver.com"
    assert [m["kind"] for m in result["missed"]] == ["rrn", "bank_account"]


def test_bad_labels_raise_data_error(tmp_path):
    neg = write_jsonl(tmp_path / "neg.jsonl", [{"text": "없음"}])
    missing = write_jsonl(tmp_path / "a.jsonl", [{"text": "연락처", "pii": [
        {"kind": "phone", "text": "010-1234-5678"}]}])
    with pytest.raises(DataError, match="a.jsonl:1: labelled phone '010-1234-5678' is not in"):
        evaluate_pii(missing, neg)
    unknown = write_jsonl(tmp_path / "b.jsonl",
                          [{"text": "x", "pii": [{"kind": "ssn", "text": "x"}]}])
    with pytest.raises(DataError, match="unknown PII kind 'ssn'"):
        evaluate_pii(unknown, neg)
    (tmp_path / "c.jsonl").write_text("{not json\n", "utf-8")
    with pytest.raises(DataError, match="c.jsonl:1: not valid JSON"):
        evaluate_pii(tmp_path / "c.jsonl", neg)
    with pytest.raises(DataError, match="no such file"):
        evaluate_pii(tmp_path / "nope.jsonl", neg)


def test_cli_prints_a_per_kind_table(capsys):
    assert main([str(POSITIVES), str(NEGATIVES)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["kind", "gold", "found", "recall", "precision"]
    assert [line.split()[0] for line in lines[1:11]] == list(PII_KINDS)
    assert lines[11].startswith("overall")
    assert "spans flagged on negatives: 0" in out
    assert main(["only-one-arg"]) == 2
