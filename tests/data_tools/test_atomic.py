"""The one atomic write: complete content, no temporary left behind, the old file kept on failure."""
import json

import pytest

from data_tools.atomic import atomic_write_json, atomic_write_text


def test_writes_and_replaces_without_leftovers(tmp_path):
    path = tmp_path / "card.json"
    atomic_write_json(path, {"이름": "금융", "n": 3})
    atomic_write_json(path, {"이름": "의료", "n": 4})
    assert json.loads(path.read_text(encoding="utf-8")) == {"이름": "의료", "n": 4}
    assert "의료" in path.read_text(encoding="utf-8")          # Hangul readable, not \\u-escaped
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "notes.txt"
    atomic_write_text(path, "old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "half \udc80 written")   # a lone surrogate cannot be encoded as UTF-8
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
