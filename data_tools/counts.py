"""Where every input row went, and the identity that proves none was lost.

    in = kept + duplicates_exact + duplicates_near + sum(quarantined) + sum(filtered)

`kept` is train + eval. Rows removed by the contamination check count under
filtered["contaminated"]; `contaminated` itself reports how many train rows overlapped an
eval row, whether or not they were removed. Blank lines are not rows and are reported apart.
For cls datasets `per_label` counts the written rows of each label per split (train, eval).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class CountsMismatch(RuntimeError):
    """The pipeline lost or invented a row: a bug in kdtune, never the user's data."""


@dataclass
class PrepareCounts:
    rows_in: int = 0
    train: int = 0
    eval: int = 0
    duplicates_exact: int = 0
    duplicates_near: int = 0
    quarantined: Counter = field(default_factory=Counter)
    filtered: Counter = field(default_factory=Counter)
    contaminated: int = 0
    blank_lines_skipped: int = 0
    per_source: dict = field(default_factory=dict)
    per_label: dict = field(default_factory=lambda: {"train": Counter(), "eval": Counter()})

    @property
    def kept(self) -> int:
        return self.train + self.eval

    def accounted(self) -> int:
        return (self.kept + self.duplicates_exact + self.duplicates_near
                + sum(self.quarantined.values()) + sum(self.filtered.values()))

    def check(self) -> None:
        """Raise unless every input row is accounted for exactly once."""
        if self.accounted() != self.rows_in:
            raise CountsMismatch(
                f"row counts do not add up: in={self.rows_in} but kept={self.kept} + "
                f"duplicates={self.duplicates_exact}+{self.duplicates_near} + "
                f"quarantined={sum(self.quarantined.values())} + "
                f"filtered={sum(self.filtered.values())} = {self.accounted()}")

    def to_dict(self) -> dict:
        return {
            "in": self.rows_in,
            "kept": self.kept,
            "duplicates_exact": self.duplicates_exact,
            "duplicates_near": self.duplicates_near,
            "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": sum(self.quarantined.values()),
            "filtered": dict(sorted(self.filtered.items())),
            "filtered_total": sum(self.filtered.values()),
            "contaminated": self.contaminated,
            "per_split": {"train": self.train, "eval": self.eval},
            "per_source": self.per_source,
            "blank_lines_skipped": self.blank_lines_skipped,
        }
