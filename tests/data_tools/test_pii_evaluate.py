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
    assert result["rows"]["negatives"] >= 250
    assert sum(result["gold"].values()) >= 390
    assert all(result["gold"][kind] >= 30 for kind in PII_KINDS), result["gold"]
    assert result["overall_recall"] >= 0.98
    assert all(result["recall"][kind] >= 0.95 for kind in PII_KINDS), result["recall"]
    assert all(result["precision"][kind] >= 0.98 for kind in PII_KINDS), result["precision"]
    assert result["negatives_flagged"] == 0, result["false_positives"]
    # found spans per reason add up to the found count, kind by kind
    assert all(sum(result["reasons"][k].values()) == result["found"][k] for k in PII_KINDS)


def test_context_cases():
    cases = evaluate_pii(POSITIVES, NEGATIVES)["cases"]
    # identifiers a label names although their digits fail validation (measured: 40/40)
    assert cases["named_invalid"]["gold"] >= 40
    assert cases["named_invalid"]["found"] / cases["named_invalid"]["gold"] >= 0.95
    # labelled identifiers in order/logistics text (measured: 24/24)
    assert cases["named_near_nonpersonal"]["found"] == cases["named_near_nonpersonal"]["gold"] >= 24
    # validating numbers in order/logistics text, and words that merely contain a label
    assert cases["nonpersonal_valid"]["rows"] >= 75 and cases["nonpersonal_valid"]["rows_flagged"] == 0
    assert cases["label_lookalike"]["rows"] >= 12 and cases["label_lookalike"]["rows_flagged"] == 0


def test_threshold_trades_recall_for_false_positives():
    lax = evaluate_pii(POSITIVES, NEGATIVES, threshold=0.4)
    strict = evaluate_pii(POSITIVES, NEGATIVES, threshold=0.7)
    default = evaluate_pii(POSITIVES, NEGATIVES)
    # at 0.4 hyphenated order numbers that validate (0.9 - 0.5 for the order word) get in
    assert lax["cases"]["nonpersonal_valid"]["rows_flagged"] > 0
    assert lax["negative_rows_flagged"] > default["negative_rows_flagged"] == 0
    # at 0.7 named-but-invalid identifiers (base <= 0.2, + 0.6 label) start to be missed
    assert strict["cases"]["named_invalid"]["found"] < default["cases"]["named_invalid"]["found"]
    assert strict["overall_recall"] < default["overall_recall"]


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
    assert "case nonpersonal_valid: 0/" in out and "found by reason: checksum" in out
    assert main([str(POSITIVES), str(NEGATIVES), "--threshold", "0.4"]) == 0
    assert "case nonpersonal_valid: 0/" not in capsys.readouterr().out
    assert main(["only-one-arg"]) == 2
    assert main([str(POSITIVES), str(NEGATIVES), "--threshold", "2"]) == 2
