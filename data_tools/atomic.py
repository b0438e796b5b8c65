"""The one atomic file write: readers (another process, a resumed run, `kdtune report`) see the old
file or the complete new one, never half of it, even if the writer is killed mid-write."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file in the same directory and an
    `os.replace` (atomic on POSIX and Windows within one filesystem). The temporary name carries
    the pid so two processes writing the same file never share one half-written temporary."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> Path:
    """`obj` as UTF-8 JSON (Hangul kept readable, not \\u-escaped), one trailing newline."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")
