"""`Redactor`: apply one redaction policy to every row of a dataset and count what it removed.

Modes:
  mask          replace each identifier by its Korean placeholder, e.g. "[전화번호]".
  pseudonymize  replace it by a consistent fake of the same shape (see pseudonym.py).
  drop          keep rows without personal data unchanged; return None for rows with any.
Use one Redactor per dataset: the pseudonym map and the counts (for the manifest) live on it.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from data_tools.errors import DataError
from data_tools.pii.detect import REASONS, THRESHOLD, find_pii
from data_tools.pii.kinds import PII_KINDS, Span
from data_tools.pii.pseudonym import Pseudonymizer

MODES = ("mask", "pseudonymize", "drop")


@dataclass(frozen=True)
class RedactResult:
    """Redacted text (None when dropped) and the spans found, with offsets into the input."""

    text: str | None
    spans: list[Span]


class Redactor:
    def __init__(self, mode: str = "mask", seed: int = 0, threshold: float = THRESHOLD) -> None:
        if mode not in MODES:
            raise DataError(
                f"unknown PII redaction mode {mode!r}: expected one of {', '.join(MODES)}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise DataError(f"PII pseudonym seed must be an integer, got {seed!r}")
        if not 0 < threshold <= 1:
            raise DataError(f"PII detection threshold must be in (0, 1], got {threshold!r}")
        self.mode = mode
        self.seed = seed
        self.threshold = threshold
        self.report: collections.Counter = collections.Counter()  # kind -> spans found
        self.reasons: collections.Counter = collections.Counter()  # reason -> spans found
        self.rows_seen = 0
        self.rows_with_pii = 0
        self.rows_dropped = 0
        self._pseudonyms = Pseudonymizer(seed)

    def __call__(self, text: str) -> RedactResult:
        if not isinstance(text, str):
            raise DataError(f"PII redaction expects text (str), got {type(text).__name__}")
        spans = find_pii(text, self.threshold)
        self.rows_seen += 1
        self.report.update(span.kind for span in spans)
        self.reasons.update(span.reason for span in spans)
        if not spans:
            return RedactResult(text, spans)
        self.rows_with_pii += 1
        if self.mode == "drop":
            self.rows_dropped += 1
            return RedactResult(None, spans)
        pieces, pos = [], 0
        for span in spans:  # spans are sorted and disjoint, so one left-to-right pass suffices
            pieces.append(text[pos:span.start])
            pieces.append(self._replacement(span))
            pos = span.end
        pieces.append(text[pos:])
        return RedactResult("".join(pieces), spans)

    def _replacement(self, span: Span) -> str:
        if self.mode == "mask":
            return PII_KINDS[span.kind]
        return self._pseudonyms.fake(span.kind, span.text)

    def report_dict(self) -> dict:
        """Summary for a dataset manifest; `total` equals the sum of `counts` and of `reasons`.

        The rows_* counts are per call, i.e. per text given to this Redactor.
        """
        counts = {kind: self.report.get(kind, 0) for kind in PII_KINDS}
        return {
            "mode": self.mode,
            "counts": counts,
            "total": sum(counts.values()),
            "reasons": {r: self.reasons[r] for r in REASONS if self.reasons[r]},
            "threshold": self.threshold,
            "rows_seen": self.rows_seen,
            "rows_with_pii": self.rows_with_pii,
            "rows_dropped": self.rows_dropped,
        }


def redact(text: str, mode: str = "mask") -> str | None:
    """Redact one text with a fresh Redactor (seed 0). For datasets, keep one Redactor."""
    return Redactor(mode)(text).text
