"""`kdtune data pii FILE`: count personal data in a JSONL, CSV or text file, optionally write a
redacted copy in the same format.

This is the check a customer runs on an export before handing it over, so it must read
anything: a JSONL line that is not JSON is scanned as text, undecodable bytes are replaced
(U+FFFD) rather than stopping the scan, and every string value at any depth is scanned.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from data_tools.errors import DataError

FORMATS = ("auto", "jsonl", "csv", "text")


def scan_file(path: str | Path, redactor, out: str | Path | None = None, fmt: str = "auto") -> dict:
    """Run `redactor` (a data_tools.pii.Redactor) over every string in the file.

    Returns {"file", "format", "lines", "lines_with_pii", "report": redactor.report_dict()}.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if fmt == "auto":
        fmt = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(path.suffix.lower(), "text")
    if out is not None and Path(out).resolve() == path.resolve():
        raise DataError(f"{out}: --out must differ from the file being scanned")
    scan = {"csv": _scan_csv, "jsonl": _scan_jsonl, "text": _scan_text}[fmt]
    sink = open(out, "w", encoding="utf-8", newline="") if out is not None else None
    try:
        lines, with_pii = scan(path, redactor, sink)
    finally:
        if sink is not None:
            sink.close()
    return {"file": str(path), "format": fmt, "lines": lines, "lines_with_pii": with_pii,
            "report": redactor.report_dict()}


def _redact_value(value, redactor, found: list):
    if isinstance(value, str):
        result = redactor(value)
        if result.spans:
            found.append(len(result.spans))
        return result.text
    if isinstance(value, list):
        return [_redact_value(v, redactor, found) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v, redactor, found) for k, v in value.items()}
    return value


def _scan_jsonl(path: Path, redactor, sink) -> tuple[int, int]:
    lines = with_pii = 0
    with open(path, "rb") as f:
        for raw in f:
            lines += 1
            text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            found: list = []
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                redacted = _redact_value(text, redactor, found)  # not JSON: scan it as text
                rendered = redacted
            else:
                redacted = _redact_value(obj, redactor, found)
                rendered = json.dumps(redacted, ensure_ascii=False) if redacted is not None else None
            with_pii += bool(found)
            if sink is not None and rendered is not None and not _dropped(redacted):
                sink.write(rendered + "\n")
    return lines, with_pii


def _scan_csv(path: Path, redactor, sink) -> tuple[int, int]:
    lines = with_pii = 0
    writer = csv.writer(sink) if sink is not None else None
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        for i, row in enumerate(csv.reader(f)):
            found: list = []
            # The header names columns; it is written through untouched.
            redacted = row if i == 0 else [_redact_value(cell, redactor, found) for cell in row]
            lines += i > 0
            with_pii += bool(found)
            if writer is not None and not _dropped(redacted):
                writer.writerow(redacted)
    return lines, with_pii


def _scan_text(path: Path, redactor, sink) -> tuple[int, int]:
    lines = with_pii = 0
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for line in f:
            lines += 1
            body = line.rstrip("\r\n")
            found: list = []
            redacted = _redact_value(body, redactor, found)
            with_pii += bool(found)
            if sink is not None and redacted is not None:
                sink.write(redacted + line[len(body):])
    return lines, with_pii


def _dropped(value) -> bool:
    """In drop mode a redacted string is None; a row holding one is left out of the copy."""
    if value is None:
        return True
    if isinstance(value, list):
        return any(_dropped(v) for v in value)
    if isinstance(value, dict):
        return any(_dropped(v) for v in value.values())
    return False
