"""95% intervals for an accuracy: Wilson for a plain count, bootstrap for anything else.

Wilson rather than the normal approximation because eval sets are often small per category
(a KMMLU subject split can have under 100 items) and accuracies sit near 0 or 1, where p ± z·se
leaves [0, 1] and under-covers.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n is 0 (nothing known)."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Clamp: at k = 0 or k = n the formula gives 0 or 1 up to rounding.
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(values: Sequence[float], n_boot: int = 2000, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (e.g. per-item scores in [0, 1]).

    Seeded, so the same results give the same interval in every report.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("bootstrap_interval needs a non-empty 1-D sequence")
    rng = np.random.default_rng(seed)
    # One (n_boot, n) index draw: each row is a resample with replacement.
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)
