"""Rejected rows: the exception that rejects one row, and the file every rejected row lands in.

No bad row may stop a run. Each pipeline stage raises `RowRejected(reason, detail)` for the
row it cannot use; the pipeline catches it, counts it under `reason`, and writes the row to
`quarantine.jsonl` so a person can see exactly which line was lost and why.

A quarantine line looks like
    {"source": "raw.jsonl", "line": 7, "stage": "quarantined", "reason": "bad_json",
     "detail": "Expecting ',' delimiter: line 1 column 31", "raw": "{\"instruction\": ..."}
`stage` is "quarantined" (the row could not be read or shaped) or "filtered" (a well-formed
row that a quality rule or the contamination check removed). `raw` is always valid text:
undecodable bytes appear as `\\xff` escapes, lone surrogates as `\\ud800`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

# A single broken "line" can be megabytes (a file with no newlines); keep the evidence, not all of it.
RAW_MAX_CHARS = 4000


class RowRejected(Exception):
    """One row cannot be used. `reason` is a short stable key counted in the datacard."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def safe_text(text: str) -> str:
    """Make `text` encodable as UTF-8 by escaping lone surrogates (from JSON escapes or
    surrogateescape-decoded bytes) instead of failing when the line is written."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def raw_to_text(payload: bytes | str | dict | None) -> str:
    """The original row as readable text: bytes are decoded with bad bytes shown as escapes."""
    if payload is None:
        return ""
    if isinstance(payload, bytes):
        text = payload.decode("utf-8", "backslashreplace")
    elif isinstance(payload, str):
        text = payload
    else:
        # Rows from CSV/Parquet are dicts; CSV cells may hold surrogateescape'd bytes (\udcff),
        # shown as \xff again so they read like the bytes in the file.
        text = json.dumps(payload, ensure_ascii=False, default=str)
        text = text.encode("utf-8", "surrogateescape" if _only_escaped_bytes(text) else "backslashreplace")
        text = text.decode("utf-8", "backslashreplace")
    return safe_text(text.rstrip("\r\n"))


def _only_escaped_bytes(text: str) -> bool:
    """True when every surrogate in `text` came from surrogateescape (U+DC80..U+DCFF)."""
    return all(not (0xD800 <= ord(c) <= 0xDFFF) or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


class QuarantineWriter:
    """Appends rejected rows to quarantine.jsonl. `mask` (optional) scrubs personal data from
    the raw text first: a rejected row is still a customer's row and must not leak PII."""

    def __init__(self, path: Path, mask: Callable[[str], str] | None = None):
        self.path = Path(path)
        self._mask = mask
        self._file = open(self.path, "w", encoding="utf-8")
        self.written = 0

    def write(self, source: str, line: int, stage: str, reason: str, detail: str, raw: str) -> None:
        raw = safe_text(raw)
        truncated = len(raw) > RAW_MAX_CHARS
        if truncated:
            raw = raw[:RAW_MAX_CHARS]
        if self._mask is not None:
            raw = self._mask(raw)
        row = {"source": source, "line": line, "stage": stage, "reason": reason,
               "detail": safe_text(detail), "raw": raw}
        if truncated:
            row["raw_truncated"] = True
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "QuarantineWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
