"""Readers for JSONL, CSV, Parquet and saved `datasets` directories, streamed row by row.

Each reader yields `(line, payload)`: `line` is the 1-based line in the file for text formats
(what an editor shows) and the 1-based row number for Parquet and `datasets` directories.
Readers never parse what can fail: a JSONL payload is the raw bytes of its line, decoded and
parsed later (in worker processes), so a non-UTF-8 or truncated line becomes one quarantined
row instead of stopping the run. Files are never loaded whole.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from data_tools.errors import DataError

# Parquet and Arrow are read in record batches of this many rows.
BATCH_ROWS = 4096
# Key added to a CSV row whose cell count differs from the header; its value says how.
CSV_SHAPE_ERROR = "\x00csv_shape_error"
_EXTRA_CELLS = "\x00extra_cells"

FORMAT_BY_SUFFIX = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
                    ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def detect_format(path: Path) -> str:
    """jsonl / csv / parquet from the suffix; hf_dir for a directory written by `save_to_disk`."""
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return "hf_dir"
        raise DataError(f"{path}: directory is not a saved `datasets` dataset (no state.json or dataset_dict.json)")
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
                        f"set format: jsonl|csv|parquet|hf_dir in the input config")
    return fmt


def iter_rows(path: str | Path, fmt: str = "auto", hf_split: str | None = None) -> Iterator[tuple[int, object]]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: input not found")
    if fmt == "auto":
        fmt = detect_format(path)
    readers = {"jsonl": iter_jsonl, "csv": iter_csv, "parquet": iter_parquet}
    if fmt == "hf_dir":
        return iter_hf_dir(path, hf_split)
    return readers[fmt](path)


def iter_jsonl(path: Path) -> Iterator[tuple[int, bytes]]:
    """Raw bytes per line, blank lines included (as b"") so the caller can count them."""
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, start=1):
            yield line_no, line.rstrip(b"\r\n")


def iter_csv(path: Path) -> Iterator[tuple[int, dict]]:
    """One dict per record; quoted cells may span lines, so `line` is where the record starts.

    Bytes that are not UTF-8 survive as surrogate escapes (U+DC80..U+DCFF) so the row can be
    quarantined as not_utf8 later instead of the whole file failing to decode.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.DictReader(f, restkey=_EXTRA_CELLS)
        if reader.fieldnames is None:
            return
        start = reader.line_num + 1
        for row in reader:
            extra = row.get(_EXTRA_CELLS)
            if extra is not None:
                row[CSV_SHAPE_ERROR] = f"{len(extra)} more cells than the header"
            elif any(value is None for value in row.values()):
                row[CSV_SHAPE_ERROR] = f"fewer cells than the header ({len(reader.fieldnames)})"
            yield start, row
            start = reader.line_num + 1


def iter_parquet(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt or non-Parquet file
        raise DataError(f"{path}: cannot read as Parquet: {err}") from None
    row_no = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            row_no += 1
            yield row_no, row


def iter_hf_dir(path: Path, split: str | None) -> Iterator[tuple[int, dict]]:
    """A directory from `Dataset.save_to_disk`: memory-mapped Arrow, read a batch at a time."""
    # Imported here: `datasets` is slow to import and only this reader needs it.
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as err:
        raise DataError(f"{path}: cannot load the saved dataset: {err}") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            if len(loaded) != 1:
                raise DataError(f"{path}: dataset has splits {sorted(loaded)}; set hf_split in the input config")
            split = next(iter(loaded))
        if split not in loaded:
            raise DataError(f"{path}: no split {split!r}; it has {sorted(loaded)}")
        loaded = loaded[split]
    row_no = 0
    for batch in loaded.iter(batch_size=BATCH_ROWS):
        columns = list(batch)
        for values in zip(*(batch[c] for c in columns)):
            row_no += 1
            yield row_no, dict(zip(columns, values))


def source_files(path: Path) -> list[Path]:
    """The files whose bytes make up an input (for the datacard's sha256)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]

