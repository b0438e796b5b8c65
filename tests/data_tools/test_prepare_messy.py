"""The messy fixture through `kdtune data prepare`: no crash, every row accounted for.

fixtures/messy.jsonl, line by line (13 is blank, so 26 rows):
   1 good, phone number            -> kept, masked
   2 NFD copy of 1                 -> exact duplicate (after NFC)
   3 full-width digits             -> kept, folded to half-width
   4 half-width copy of 3          -> exact duplicate
   5 byte-identical copy of 1      -> exact duplicate
   6 truncated JSON, 7 not JSON    -> bad_json
   8 empty instruction             -> empty_field
   9 no output, 24 output null     -> missing_field
  10 output is a number            -> wrong_type
  11 lone surrogate escape \\ud800  -> invalid_surrogate
  12 EUC-KR bytes                  -> not_utf8
  14 chat with an e-mail           -> kept, masked
  15 a JSON list                   -> not_object
  16 resident registration number  -> kept, masked
  17 too short, 18 English only, 19 "ㅋㅋㅋ…" -> filtered too_short, low_hangul, repetitive
  20 control chars, ZWSP, U+3000   -> kept, cleaned
  21 good long row, 22 its copy with different spacing -> kept, near duplicate
  23 role "customer"               -> bad_role
  25 CRLF line ending              -> kept
  26 an MCQA row in a chat dataset -> schema_mismatch
  27 "정답：３번"                   -> kept as "정답：3번" (colon kept, digit folded)
"""

import json
import unicodedata
from pathlib import Path

import pytest

from data_tools.cli import main
from data_tools.counts import CountsMismatch, PrepareCounts
from data_tools.datacard import sha256_file
from data_tools.errors import DataError
from data_tools.pii import find_pii
from data_tools.prepare import prepare
from data_tools.prepare_config import default_config

FIXTURE = Path(__file__).parent / "fixtures" / "messy.jsonl"
QUARANTINED = {6: "bad_json", 7: "bad_json", 8: "empty_field", 9: "missing_field", 10: "wrong_type",
               11: "invalid_surrogate", 12: "not_utf8", 15: "not_object", 23: "bad_role",
               24: "missing_field", 26: "schema_mismatch"}
FILTERED = {17: "too_short", 18: "low_hangul", 19: "repetitive"}
KEPT = {1, 3, 14, 16, 20, 21, 25, 27}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("messy")
    rc = main(["data", "prepare", "--input", str(FIXTURE), "--out", str(out), "--workers", "1",
               "output.eval_fraction=0.25"])
    assert rc == 0
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_counts_add_up_exactly(run):
    counts = json.loads((run / "datacard.json").read_text(encoding="utf-8"))["counts"]
    assert counts["in"] == 26 and counts["blank_lines_skipped"] == 1
    assert counts["kept"] == len(KEPT) == 8
    assert (counts["duplicates_exact"], counts["duplicates_near"]) == (3, 1)
    assert counts["quarantined"] == {"bad_json": 2, "bad_role": 1, "empty_field": 1, "invalid_surrogate": 1,
                                     "missing_field": 2, "not_object": 1, "not_utf8": 1,
                                     "schema_mismatch": 1, "wrong_type": 1}
    assert counts["filtered"] == {"low_hangul": 1, "repetitive": 1, "too_short": 1}
    assert counts["in"] == (counts["kept"] + counts["duplicates_exact"] + counts["duplicates_near"]
                            + counts["quarantined_total"] + counts["filtered_total"])
    assert counts["per_split"]["train"] + counts["per_split"]["eval"] == counts["kept"]


def test_every_bad_row_is_in_quarantine_with_its_reason(run):
    rows = read_jsonl(run / "quarantine.jsonl")
    assert {r["line"]: r["reason"] for r in rows if r["stage"] == "quarantined"} == QUARANTINED
    assert {r["line"]: r["reason"] for r in rows if r["stage"] == "filtered"} == FILTERED
    by_line = {r["line"]: r for r in rows}
    assert all(r["raw"] and r["source"] == str(FIXTURE) and r["detail"] for r in rows)
    assert '"\\xb0\\xa1\\xb3\\xaa\\xb4\\xd9"' in by_line[12]["raw"]  # undecodable bytes as escapes
    assert "\\ud800" in by_line[11]["raw"]
    assert by_line[6]["raw"].endswith('"output": "10')


def test_every_good_row_is_normalised_and_redacted(run):
    kept = read_jsonl(run / "train.jsonl") + read_jsonl(run / "eval.jsonl")
    assert {r["meta"]["line"] for r in kept} == KEPT
    by_line = {r["meta"]["line"]: [m["content"] for m in r["messages"]] for r in kept}
    for texts in by_line.values():
        for text in texts:
            assert unicodedata.is_normalized("NFC", text)
            assert not any(0xFF10 <= ord(c) <= 0xFF5A and c.isalnum() for c in text)
            assert not any(ord(c) < 0x20 and c != "\n" for c in text) and "\u200b" not in text
            assert find_pii(text) == []
    assert by_line[1] == ["고객 연락처를 알려 주세요.\n\n고객 번호 17", "고객 연락처는 [전화번호] 입니다."]
    assert by_line[3][0] == "2024년 부가가치세 세율은 몇 퍼센트인가요?"
    assert by_line[14][1] == "담당자 메일은 [이메일] 입니다."
    assert by_line[16][0].endswith("주민등록번호 [주민등록번호]")
    assert by_line[20] == ["제어 문자와 공백이 섞인 행", "정리된 뒤에 남아야 합니다."]
    assert by_line[27][1] == "정답：3번"


def test_datacard_is_last_and_its_hashes_and_pii_counts_match(run):
    card = json.loads((run / "datacard.json").read_text(encoding="utf-8"))
    written = (run / "datacard.json").stat().st_mtime_ns
    for name, described in card["outputs"].items():
        assert (run / name).stat().st_mtime_ns <= written
        assert described["sha256"] == sha256_file(run / name)
        assert described["rows"] == len((run / name).read_text(encoding="utf-8").splitlines())
    assert card["inputs"][0]["sha256"] == sha256_file(FIXTURE)
    text = (run / "train.jsonl").read_text(encoding="utf-8") + (run / "eval.jsonl").read_text(encoding="utf-8")
    assert card["pii"]["counts"]["phone"] == text.count("[전화번호]") == 1
    assert card["pii"]["counts"]["rrn"] == text.count("[주민등록번호]") == 1
    assert card["pii"]["counts"]["email"] == text.count("[이메일]") == 1
    assert card["pii"]["total"] == 3 and card["pii"]["rows_with_pii"] == 3
    assert card["config"]["output"]["eval_fraction"] == 0.25 and card["kind"] == "chat"


def test_two_workers_give_identical_files(run, tmp_path):
    # Chunks of 4 rows: the pool really runs, and chunk boundaries fall between duplicates.
    cfg = default_config([str(FIXTURE)], str(tmp_path), ["output.eval_fraction=0.25", "workers=2", "chunk_size=4"])
    prepare(cfg, progress=False)
    for name in ("train.jsonl", "eval.jsonl", "quarantine.jsonl"):
        assert (tmp_path / name).read_bytes() == (run / name).read_bytes(), name


def test_counts_identity_is_enforced():
    counts = PrepareCounts(rows_in=3, train=1, duplicates_exact=1)
    with pytest.raises(CountsMismatch, match="in=3"):
        counts.check()
    counts.filtered["too_short"] += 1
    counts.check()


def test_a_failed_run_leaves_no_datacard(tmp_path):
    (tmp_path / "datacard.json").write_text("{}")
    with pytest.raises(DataError, match="input not found"):
        prepare(default_config([str(tmp_path / "missing.jsonl")], str(tmp_path)), progress=False)
    assert not (tmp_path / "datacard.json").exists()
