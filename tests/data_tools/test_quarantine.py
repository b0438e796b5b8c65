"""Quarantine file: raw text always readable, PII masked, huge rows truncated."""

import json

from data_tools.quarantine import RAW_MAX_CHARS, QuarantineWriter, raw_to_text


def test_raw_to_text_escapes_what_cannot_be_text():
    assert raw_to_text(b'{"a": "\xb0\xa1"}\r\n') == '{"a": "\\xb0\\xa1"}'
    assert raw_to_text({"a": "x\udcb0"}) == '{"a": "x\\xb0"}'  # CSV byte kept by surrogateescape
    assert raw_to_text("lone \ud800") == "lone \\ud800"
    assert raw_to_text(None) == ""


def test_writer_masks_and_truncates(tmp_path):
    path = tmp_path / "q.jsonl"
    with QuarantineWriter(path, mask=lambda s: s.replace("010-1234-5678", "[전화번호]")) as q:
        q.write("a.jsonl", 3, "quarantined", "bad_json", "detail", "전화 010-1234-5678")
        q.write("a.jsonl", 4, "quarantined", "bad_json", "", "가" * (RAW_MAX_CHARS + 10))
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == {"source": "a.jsonl", "line": 3, "stage": "quarantined", "reason": "bad_json",
                       "detail": "detail", "raw": "전화 [전화번호]"}
    assert len(rows[1]["raw"]) == RAW_MAX_CHARS and rows[1]["raw_truncated"] is True
