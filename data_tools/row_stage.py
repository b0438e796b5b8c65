"""The per-row stage: raw payload -> clean, redacted record + dedup keys, or a rejection.

Everything that looks at one row alone happens here, in worker processes, so it scales with
cores: decode/parse, schema adaptation, normalisation, quality rules, PII redaction, the exact
dedup key and the MinHash signature. What needs all rows at once (the dedup sets, the split,
contamination) stays in the parent (prepare.py).

Order within a row, and why:
  parse -> shape -> normalise   (NFC before anything compares or hashes text)
  -> label allow-list           (cls rows; on the normalised label, so NFD and NFC spellings agree)
  -> quality                    (judged on the real text, before masks like "[전화번호]" dilute it)
  -> redact                     (nothing after this point holds personal data)
  -> exact key, MinHash         (on the text the model will see: two rows that differ only in a
                                 masked phone number are the same training example)
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import numpy as np

from data_tools.dedup import exact_key, signatures
from data_tools.normalize import Normalizer
from data_tools.prepare_config import PrepareConfig
from data_tools.quality import QualityRules
from data_tools.quarantine import RowRejected, raw_to_text
from data_tools.schema import (check_label, check_not_empty, map_texts, payload_to_object, record_kind, record_text,
                               to_record)


@dataclass(slots=True)
class Kept:
    line: int
    kind: str            # "chat", "mcqa" or "cls"
    key: bytes           # exact-dedup key
    signature: np.ndarray | None  # MinHash values, when near-dedup is on
    json_line: str       # the record, serialised once here rather than in the parent
    pii: Counter | None = None  # identifiers redacted in this row, by (kind, reason)
    label: str | None = None    # cls rows: the datacard counts labels per split


@dataclass(slots=True)
class Rejected:
    line: int
    stage: str           # "quarantined" or "filtered"
    reason: str
    detail: str
    raw: str


@dataclass(slots=True)
class ChunkResult:
    source_index: int
    outcomes: list


class RowStage:
    def __init__(self, cfg: PrepareConfig):
        self.cfg = cfg
        self.normalize = Normalizer.from_config(cfg.normalize)
        self.quality = QualityRules.from_config(cfg.quality) if cfg.quality.enabled else None
        self.allowed_labels = [spec.allowed_labels() for spec in cfg.inputs]
        self.redactor = None
        if cfg.pii.enabled:
            from data_tools.pii import Redactor
            self.redactor = Redactor(mode=cfg.pii.mode, seed=cfg.pii.seed, threshold=cfg.pii.threshold)

    def process(self, source_index: int, rows: list[tuple[int, object]]) -> ChunkResult:
        spec = self.cfg.inputs[source_index]
        result = ChunkResult(source_index, [])
        kept_texts = []
        for line, payload in rows:
            outcome, text = self._one(spec, self.allowed_labels[source_index], line, payload)
            result.outcomes.append(outcome)
            if isinstance(outcome, Kept):
                kept_texts.append((outcome, text))
        if self.cfg.dedup.near and kept_texts:
            sigs = signatures([t for _, t in kept_texts], self.cfg.dedup.num_perm, self.cfg.dedup.shingle)
            for (outcome, _), sig in zip(kept_texts, sigs):
                outcome.signature = sig
        return result

    def _one(self, spec, allowed_labels, line: int, payload):
        try:
            record = to_record(payload_to_object(payload), spec, spec.source_name, line)
            record = map_texts(record, self.normalize)
            check_not_empty(record)
            check_label(record, allowed_labels)
        except RowRejected as rejected:
            return Rejected(line, "quarantined", rejected.reason, rejected.detail, raw_to_text(payload)), None
        if self.quality is not None:
            failure = self.quality.failure(record_text(record))
            if failure is not None:
                return Rejected(line, "filtered", *failure, _dump(record)), None
        found = None
        if self.redactor is not None:
            redacted, found = self._redact(record)
            if redacted is None:
                return Rejected(line, "filtered", "pii_dropped", "personal data found (pii.mode: drop)",
                                _dump(record)), None
            record = redacted
        kept = Kept(line, record_kind(record), exact_key(record), None, _dump(record), found or None,
                    record.get("label"))
        return kept, record_text(record)

    def _redact(self, record: dict) -> tuple[dict | None, Counter]:
        """Redact every text the trainer could read; (None, kinds) when drop mode drops the row."""
        found = Counter()

        def redact(text: str) -> str | None:
            result = self.redactor(text)
            found.update((span.kind, span.reason) for span in result.spans)
            return result.text

        return map_texts(record, redact), found


def _dump(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


# Worker-process entry points (module level so multiprocessing can pickle them by name).
_STAGE: RowStage | None = None


def init_worker(config_dict: dict) -> None:
    global _STAGE
    _STAGE = RowStage(PrepareConfig.model_validate(config_dict))


def run_chunk(chunk: tuple[int, list]) -> ChunkResult:
    return _STAGE.process(*chunk)
