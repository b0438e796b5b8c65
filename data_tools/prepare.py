"""The data preparation pipeline: sources -> train.jsonl, eval.jsonl, quarantine.jsonl, datacard.json.

    kdtune data prepare --config configs/data/finance.yaml
    python -m data_tools.cli data prepare --input raw.jsonl --out data/prepared/raw

Read top to bottom:
  1. check every input exists and has a known format (fail before any work is done)
  2. stream rows in chunks through the per-row stage (row_stage.py) on N worker processes
  3. in this process, in input order: reject / exact dedup / near dedup / split, write each row
  4. contamination: index the eval rows, stream train rows past them, report or remove
  5. check the counts identity, hash the outputs, write datacard.json last
Eval-only sources are read first so that, when the same row appears in both, the eval copy
is kept and the train copy is the duplicate (the eval set stays as published).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from itertools import islice
from pathlib import Path

from data_tools.canaries import CANARIES_FILE, insert_canaries
from data_tools.contamination import EvalIndex
from data_tools.counts import PrepareCounts
from data_tools.datacard import DATACARD, describe_input, describe_output, versions, write_datacard
from data_tools.dedup import ExactDeduper, NearDeduper
from data_tools.errors import DataError
from data_tools.ingest import detect_format, iter_rows
from data_tools.parallel import map_ordered
from data_tools.prepare_config import PrepareConfig
from data_tools.quarantine import QuarantineWriter
from data_tools.row_stage import Kept, init_worker, run_chunk
from data_tools.schema import prompt_text, record_text

OUTPUT_FILES = ("train.jsonl", "eval.jsonl", "quarantine.jsonl")


def prepare(cfg: PrepareConfig, progress: bool | None = None) -> dict:
    """Run the pipeline; returns the datacard (also written to <output.dir>/datacard.json)."""
    out = Path(cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    # A datacard means "complete": remove a stale one before anything else is rewritten.
    (out / DATACARD).unlink(missing_ok=True)
    (out / CANARIES_FILE).unlink(missing_ok=True)   # secrets of an earlier run are not this one's

    formats = _input_formats(cfg)
    order = sorted(range(len(cfg.inputs)), key=lambda i: cfg.inputs[i].split != "eval")

    counts = PrepareCounts()
    # PII counted over written rows only, so the report matches the files (duplicates excluded).
    pii = {"counts": Counter(), "rows_with_pii": 0, "train_rows": {}}
    exact = ExactDeduper()
    near = NearDeduper(cfg.dedup.near_threshold, cfg.dedup.num_perm) if cfg.dedup.near else None
    dataset_kind = None
    train_tmp, eval_tmp = out / "train.jsonl.partial", out / "eval.jsonl.partial"

    chunks = _chunks(cfg, order, formats, counts)
    results = map_ordered(init_worker, cfg.model_dump(mode="json"), run_chunk, chunks, cfg.resolved_workers())
    bar = _progress_bar(cfg.name, progress)
    with QuarantineWriter(out / "quarantine.jsonl", _quarantine_mask(cfg)) as quarantine, \
            open(train_tmp, "w", encoding="utf-8") as train_f, open(eval_tmp, "w", encoding="utf-8") as eval_f:
        for result in results:
            spec = cfg.inputs[result.source_index]
            source_counts = counts.per_source.setdefault(spec.source_name, {"rows": 0})
            source_counts["rows"] += len(result.outcomes)
            for row in result.outcomes:
                counts.rows_in += 1
                if not isinstance(row, Kept):
                    getattr(counts, row.stage)[row.reason] += 1
                    quarantine.write(spec.source_name, row.line, row.stage, row.reason, row.detail, row.raw)
                    continue
                dataset_kind = dataset_kind or row.kind
                if row.kind != dataset_kind:  # the trainer reads one shape per dataset
                    counts.quarantined["schema_mismatch"] += 1
                    quarantine.write(spec.source_name, row.line, "quarantined", "schema_mismatch",
                                     f"a {row.kind} row in a {dataset_kind} dataset", row.json_line)
                    continue
                if cfg.dedup.exact and exact.is_duplicate(row.key):
                    continue
                where = f"{spec.source_name}:{row.line}"
                if near is not None and near.is_duplicate(counts.kept, row.signature, where):
                    continue
                to_eval = _goes_to_eval(spec.split, row.key, cfg.output)
                if to_eval:
                    counts.eval += 1
                    eval_f.write(row.json_line + "\n")
                else:
                    counts.train += 1
                    train_f.write(row.json_line + "\n")
                if row.label is not None:
                    counts.per_label["eval" if to_eval else "train"][row.label] += 1
                if row.pii:
                    pii["counts"].update(row.pii)
                    pii["rows_with_pii"] += 1
                    if not to_eval:  # the contamination check may still remove it
                        pii["train_rows"][(spec.source_name, row.line)] = row.pii
            bar.update(len(result.outcomes))
        bar.close()
        train_f.close()
        eval_f.close()
        counts.duplicates_exact = exact.duplicates
        counts.duplicates_near = near.duplicates if near else 0
        contamination = _check_contamination(cfg, counts, pii, quarantine, train_tmp, eval_tmp, out / "train.jsonl")

    os.replace(eval_tmp, out / "eval.jsonl")
    counts.check()  # raises CountsMismatch: never ship a dataset whose numbers do not add up
    if counts.kept == 0:  # no datacard: an empty dataset is not a complete one
        raise DataError(_nothing_usable(cfg, counts, out))
    # After the counts identity: canary rows are not input rows, they are added to train.jsonl on request.
    canaries = cfg.privacy.canaries
    privacy = {"canaries": insert_canaries(canaries, out, counts.train, dataset_kind) if canaries else None}
    card = {
        "name": cfg.name,
        "kind": dataset_kind,
        "counts": counts.to_dict(),
        "inputs": [describe_input(Path(inp.path), fmt) for inp, fmt in zip(cfg.inputs, formats)],
        "outputs": {name: describe_output(out / name) for name in OUTPUT_FILES},
        "pii": _pii_report(cfg, pii, counts),
        "dedup": {"exact": cfg.dedup.exact, "near": cfg.dedup.near, "near_threshold": cfg.dedup.near_threshold,
                  "near_examples": near.examples if near else []},
        "contamination": contamination,
        "privacy": privacy,
        "split": {"eval_fraction": cfg.output.eval_fraction, "seed": cfg.output.seed,
                  "method": "blake2b(seed, exact key) / 2**64 < eval_fraction; per-input split overrides"},
        "config": cfg.model_dump(mode="json"),
        "versions": versions(),
    }
    if dataset_kind == "cls":
        card["counts"]["per_label"] = _per_label(cfg, counts)
    write_datacard(out, card)
    return card


# What a whole file of one rejection reason usually means, and the fix.
_HINTS = {
    "not_utf8": "the file is not UTF-8; Korean exports are often cp949/EUC-KR: convert it first "
                "(iconv -f cp949 -t utf-8 IN > OUT)",
    "unknown_schema": "no known layout (messages, conversations, instruction/output, question+options, "
                      "text+label); "
                      "map your columns with `fields:` in an input config (configs/data/*.yaml)",
    "bad_csv_row": "the CSV rows do not match its header (delimiter or quoting?)",
    "missing_field": "a required column is missing; map it with `fields:` in an input config",
}


def _nothing_usable(cfg: PrepareConfig, counts: PrepareCounts, out: Path) -> str:
    """Why not one row survived, in one paragraph: per-reason counts, the first row's detail, a fix."""
    inputs = ", ".join(inp.path for inp in cfg.inputs)
    if counts.rows_in == 0:
        return f"no usable row: {inputs} holds no rows (empty file?); no datacard was written to {out}"
    reasons = counts.quarantined + counts.filtered
    listed = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
    if counts.duplicates_exact or counts.duplicates_near:
        listed += f", duplicates {counts.duplicates_exact + counts.duplicates_near}"
    first = ""
    with open(out / "quarantine.jsonl", encoding="utf-8") as f:
        line = f.readline()
    if line:
        row = json.loads(line)
        first = f" First: {row['source']}:{row['line']} {row['reason']}: {row['detail']}."
    top = reasons.most_common(1)[0][0] if reasons else None
    hint = f" Likely cause: {_HINTS[top]}." if top in _HINTS else ""
    return (f"no usable row: all {counts.rows_in} rows of {inputs} were rejected ({listed}).{first}{hint} "
            f"Every rejected row is listed in {out}/quarantine.jsonl; no datacard was written.")


def _per_label(cfg: PrepareConfig, counts: PrepareCounts) -> dict:
    """Rows per label per split; allow-listed labels first, in their order, zeros included (a
    label with no rows is what a reader of the card most needs to see), then any others."""
    order = list(dict.fromkeys(label for inp in cfg.inputs for label in inp.allowed_labels() or ()))
    table = {}
    for split, seen in counts.per_label.items():
        table[split] = {label: seen[label] for label in order}
        table[split].update({label: n for label, n in sorted(seen.items()) if label not in table[split]})
    return table


def _input_formats(cfg: PrepareConfig) -> list[str]:
    formats = []
    for i, inp in enumerate(cfg.inputs):
        path = Path(inp.path)
        if not path.exists():
            raise DataError(f"{path}: input not found (inputs[{i}].path)")
        formats.append(detect_format(path) if inp.format == "auto" else inp.format)
    return formats


def _chunks(cfg: PrepareConfig, order: list[int], formats: list[str], counts: PrepareCounts):
    """(input index, [(line, payload), ...]) in input order; blank JSONL lines are skipped here."""
    for index in order:
        inp = cfg.inputs[index]
        rows = iter_rows(inp.path, formats[index], inp.hf_split)
        if formats[index] == "jsonl":
            rows = _skip_blank(rows, counts)
        while True:
            chunk = list(islice(rows, cfg.chunk_size))
            if not chunk:
                break
            yield index, chunk


def _skip_blank(rows, counts: PrepareCounts):
    for line, payload in rows:
        if payload.strip():
            yield line, payload
        else:
            counts.blank_lines_skipped += 1


def _goes_to_eval(split: str, key: bytes, output) -> bool:
    """Seeded and order-free: a row's split depends only on its content and the seed, so adding
    rows never moves existing ones between train and eval, and exact duplicates agree."""
    if split != "auto":
        return split == "eval"
    digest = hashlib.blake2b(key, digest_size=8, salt=output.seed.to_bytes(16, "big", signed=True)).digest()
    return int.from_bytes(digest, "big") / 2**64 < output.eval_fraction


def _check_contamination(cfg, counts, pii, quarantine, train_tmp: Path, eval_tmp: Path, train_out: Path) -> dict:
    settings = cfg.contamination
    report = {"enabled": settings.enabled, "ngram": settings.ngram, "threshold": settings.threshold,
              "action": settings.action, "eval_rows_indexed": 0, "contaminated": 0, "removed": 0, "examples": []}
    if not settings.enabled:
        os.replace(train_tmp, train_out)
        return report
    index = EvalIndex(settings.ngram, settings.threshold)
    with open(eval_tmp, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            index.add(prompt_text(record), f"{record['meta']['source']}:{record['meta']['line']}")
    report["eval_rows_indexed"] = len(index)
    kept_tmp = train_out.with_suffix(".jsonl.clean")
    with open(train_tmp, encoding="utf-8") as src, open(kept_tmp, "w", encoding="utf-8") as dst:
        for line in src:
            record = json.loads(line)
            match = index.match(record_text(record)) if len(index) else None
            if match is None:
                dst.write(line)
                continue
            counts.contaminated += 1
            where = f"{record['meta']['source']}:{record['meta']['line']}"
            if len(report["examples"]) < 10:
                report["examples"].append({"train": where, "eval": match[0], "overlap": round(match[1], 3)})
            if settings.action == "remove":
                counts.train -= 1
                if "label" in record:
                    counts.per_label["train"][record["label"]] -= 1
                removed_pii = pii["train_rows"].get((record["meta"]["source"], record["meta"]["line"]))
                if removed_pii:
                    pii["counts"].subtract(removed_pii)
                    pii["rows_with_pii"] -= 1
                counts.filtered["contaminated"] += 1
                quarantine.write(record["meta"]["source"], record["meta"]["line"], "filtered", "contaminated",
                                 f"{match[1]:.0%} of eval row {match[0]}", line)
            else:
                dst.write(line)
    os.remove(train_tmp)
    os.replace(kept_tmp, train_out)
    report["contaminated"] = counts.contaminated
    report["removed"] = counts.filtered.get("contaminated", 0)
    return report


def _quarantine_mask(cfg: PrepareConfig):
    if not (cfg.pii.enabled and cfg.pii.redact_quarantine):
        return None
    from data_tools.pii import Redactor

    masker = Redactor(mode="mask")  # its own counts: quarantine text is not part of the dataset report
    return lambda text: masker(text).text


def _pii_report(cfg: PrepareConfig, pii: dict, counts: PrepareCounts) -> dict:
    if not cfg.pii.enabled:
        return {"enabled": False}
    from data_tools.pii import PII_KINDS
    from data_tools.pii.detect import REASONS

    found = {kind: 0 for kind in PII_KINDS}
    reasons = {reason: 0 for reason in REASONS}
    by_kind: dict[str, dict[str, int]] = {}   # which evidence found each kind: a reader can see how
    for (kind, reason), n in sorted(pii["counts"].items()):   # much rests on labels alone
        if n:
            found[kind] += n
            reasons[reason] += n
            by_kind.setdefault(kind, {})[reason] = n
    return {"enabled": True, "mode": cfg.pii.mode, "threshold": cfg.pii.threshold,
            "counts": found, "total": sum(found.values()),
            "reasons": {r: n for r, n in reasons.items() if n}, "counts_by_reason": by_kind,
            "rows_with_pii": pii["rows_with_pii"], "rows_dropped": counts.filtered.get("pii_dropped", 0),
            "quarantine_masked": cfg.pii.redact_quarantine}


def _progress_bar(name: str, enabled: bool | None):
    from tqdm import tqdm

    # Only on a terminal: in CI logs and pipes a redrawn bar is noise.
    return tqdm(desc=name, unit=" rows", disable=not (sys.stderr.isatty() if enabled is None else enabled))
