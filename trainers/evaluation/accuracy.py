"""Per-item results -> accuracy with a 95% interval, overall and per category (the body of eval.json).

An item whose answer was not found is counted as wrong (and also tallied as `missing`), so the
denominator is always every item asked; a model that rambles past its token budget is not
rewarded by a smaller denominator.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Literal

from trainers.evaluation.intervals import bootstrap_interval, wilson_interval


@dataclass(frozen=True)
class ItemResult:
    item_id: str
    category: str
    correct: bool
    found: bool = True      # False when no answer could be extracted


def _summary(items: list[ItemResult], interval: Literal["wilson", "bootstrap"], seed: int) -> dict:
    n = len(items)
    k = sum(r.correct for r in items)
    if interval == "wilson":
        lo, hi = wilson_interval(k, n)
    elif interval == "bootstrap":
        lo, hi = bootstrap_interval([float(r.correct) for r in items], seed=seed) if n else (0.0, 1.0)
    else:
        raise ValueError(f"interval must be 'wilson' or 'bootstrap', got {interval!r}")
    return {
        "n": n,
        "correct": k,
        "missing": sum(not r.found for r in items),
        "accuracy": k / n if n else None,
        "ci95": [lo, hi],
    }


def summarize(results: Iterable[ItemResult], interval: Literal["wilson", "bootstrap"] = "wilson",
              seed: int = 0) -> dict:
    """{"overall": {...}, "per_category": {category: {...}}, "interval": name}; categories sorted."""
    items = list(results)
    dup = sorted(i for i, c in Counter(r.item_id for r in items).items() if c > 1)
    if dup:  # a duplicated item would be counted twice and narrow the interval falsely
        raise ValueError(f"duplicate item ids in eval results: {dup[:5]}")
    by_cat: dict[str, list[ItemResult]] = defaultdict(list)
    for r in items:
        by_cat[r.category].append(r)
    per_category = {c: _summary(by_cat[c], interval, seed) for c in sorted(by_cat)}
    overall = _summary(items, interval, seed)
    # The per-category counts partition the overall ones; check so a bug here cannot hide.
    assert sum(s["n"] for s in per_category.values()) == overall["n"]
    assert sum(s["correct"] for s in per_category.values()) == overall["correct"]
    return {"interval": interval, "overall": overall, "per_category": per_category}
