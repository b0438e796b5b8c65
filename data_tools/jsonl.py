"""Strict reading of small JSONL files whose every row matters (labelled evaluation sets): a row that
is not a JSON object with a text is an error naming its line, never a silently skipped row.
Training data goes through data_tools.ingest and the quarantine instead, where bad rows are set aside."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from data_tools.errors import DataError


def text_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every non-blank line; each row is an object with a "text" string."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{no}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f'{path}:{no}: expected an object with a "text" string')
        yield no, row
