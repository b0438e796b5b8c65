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


def umask() -> int:
    """This process's umask, read without changing it where Linux shows it (os.umask can only be
    read by setting it, which would briefly loosen it for every other thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o077)
    os.umask(current)
    return current


def honour_umask(path: str | Path) -> Path:
    """Give `path` (a file, or every file under a directory) the mode a plain `open` would have:
    0o666 less the umask. Writers that go through a temporary file (safetensors, and so every
    `save_pretrained` of weights) leave 0600, unreadable for the group a shared cluster's team
    works in even when the umask says otherwise. Files not owned by this user are left alone."""
    path = Path(path)
    mode = 0o666 & ~umask()
    for f in [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        st = f.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 != mode:
            f.chmod(mode)
    return path
