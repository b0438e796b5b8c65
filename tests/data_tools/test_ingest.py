"""Readers: line numbers as an editor shows them, bad bytes kept for quarantine, no whole-file loads."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_tools.errors import DataError
from data_tools.ingest import CSV_SHAPE_ERROR, detect_format, iter_parquet, iter_rows


def test_jsonl_yields_raw_bytes_per_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n{"b": "\xff"}\n{"c"')
    assert list(iter_rows(path)) == [(1, b'{"a": 1}'), (2, b""), (3, b'{"b": "\xff"}'), (4, b'{"c"')]


def test_csv_line_numbers_multiline_cells_and_bad_rows(tmp_path):
    path = tmp_path / "a.csv"
    text = 'question,answer\n"두 줄\n질문",1\n짧은행\n셀,이,많음\n'
    path.write_bytes(text.encode("utf-8") + b"bad,\xb0\xa1\n")  # last row: EUC-KR bytes
    rows = list(iter_rows(path))
    assert rows[0] == (2, {"question": "두 줄\n질문", "answer": "1"})
    assert rows[1][0] == 4 and rows[1][1][CSV_SHAPE_ERROR].startswith("fewer cells")
    assert rows[2][0] == 5 and rows[2][1][CSV_SHAPE_ERROR].startswith("1 more cells")
    assert rows[3] == (6, {"question": "bad", "answer": "\udcb0\udca1"})  # surrogateescape'd bytes
    assert len(rows) == 4


def test_parquet_streams_in_batches(tmp_path, monkeypatch):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"question": [f"질문{i}" for i in range(10)], "answer": list(range(10))}), path,
                   row_group_size=3)
    monkeypatch.setattr("data_tools.ingest.BATCH_ROWS", 4)
    rows = list(iter_parquet(path))
    assert [n for n, _ in rows] == list(range(1, 11))
    assert rows[9][1] == {"question": "질문9", "answer": 9}


def test_saved_datasets_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    d = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"question": ["가", "나"], "answer": [1, 2]}),
        "test": datasets.Dataset.from_dict({"question": ["다"], "answer": [3]}),
    })
    d.save_to_disk(str(tmp_path / "ds"))
    assert detect_format(tmp_path / "ds") == "hf_dir"
    assert list(iter_rows(tmp_path / "ds", hf_split="test")) == [(1, {"question": "다", "answer": 3})]
    with pytest.raises(DataError, match="set hf_split"):
        list(iter_rows(tmp_path / "ds"))


def test_missing_and_unknown_inputs(tmp_path):
    with pytest.raises(DataError, match="input not found"):
        iter_rows(tmp_path / "nope.jsonl")
    (tmp_path / "x.xlsx").write_bytes(b"")
    with pytest.raises(DataError, match="format"):
        iter_rows(tmp_path / "x.xlsx")
    with pytest.raises(DataError, match="not a saved"):
        detect_format(tmp_path)
