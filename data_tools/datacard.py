"""datacard.json: what a prepared dataset is made of, written last.

Its presence means the run completed: the pipeline deletes any old datacard before it starts
and writes the new one (atomically, via rename) only after every other file is closed and the
counts identity has been checked. It holds the counts, the sha256 of every input and output
file, the PII report, the config that ran and the library versions, so a dataset can be traced
to its sources and rebuilt.
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

from data_tools.atomic import atomic_write_json
from data_tools.ingest import source_files

DATACARD = "datacard.json"
VERSIONED_PACKAGES = ("kdtune", "datasketch", "pyarrow", "pydantic", "numpy", "datasets", "pyyaml")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_input(path: Path, fmt: str) -> dict:
    """sha256 of a file, or of a `datasets` directory as the hash of its files' hashes."""
    files = source_files(path)
    if path.is_dir():
        listing = "".join(f"{p.relative_to(path).as_posix()}\t{sha256_file(p)}\n" for p in files)
        digest = hashlib.sha256(listing.encode()).hexdigest()
    else:
        digest = sha256_file(path)
    return {"path": str(path), "format": fmt, "sha256": digest, "bytes": sum(p.stat().st_size for p in files)}


def describe_output(path: Path) -> dict:
    with open(path, "rb") as f:
        rows = sum(1 for _ in f)
    return {"sha256": sha256_file(path), "rows": rows, "bytes": path.stat().st_size}


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_datacard(out_dir: Path, card: dict) -> Path:
    path = Path(out_dir) / DATACARD
    return atomic_write_json(path, card)  # readers see the old card or the complete one, never half
