"""Wilson and bootstrap intervals against values worked by hand."""
import math

import pytest

from trainers.evaluation.intervals import bootstrap_interval, wilson_interval


def test_wilson_7_of_10():
    lo, hi = wilson_interval(7, 10)
    # p = 0.7, z² = 3.8416: centre = (0.7 + 0.19208) / 1.38416 = 0.644463,
    # half = 1.96 / 1.38416 · sqrt(0.021 + 0.009604) = 0.247746
    assert (round(lo, 4), round(hi, 4)) == (0.3968, 0.8922)
    centre = (0.7 + 3.8416 / 20) / (1 + 3.8416 / 10)
    half = 1.96 / (1 + 3.8416 / 10) * math.sqrt(0.7 * 0.3 / 10 + 3.8416 / 400)
    assert (lo, hi) == pytest.approx((centre - half, centre + half), abs=1e-12)


def test_wilson_edges():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 3.8416 / 13.8416))   # z²/(n+z²)
    assert wilson_interval(10, 10) == pytest.approx((10 / 13.8416, 1.0))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_bootstrap_matches_normal_theory_for_large_n():
    # 280/400: se = sqrt(0.7·0.3/400) = 0.022913, so about 0.7 ± 0.0449
    lo, hi = bootstrap_interval([1.0] * 280 + [0.0] * 120)
    assert lo == pytest.approx(0.7 - 1.96 * 0.022913, abs=0.006)
    assert hi == pytest.approx(0.7 + 1.96 * 0.022913, abs=0.006)
    assert bootstrap_interval([1.0] * 280 + [0.0] * 120) == (lo, hi)   # seeded: reproducible


def test_bootstrap_degenerate_and_bounds():
    assert bootstrap_interval([1.0] * 20) == (1.0, 1.0)
    lo, hi = bootstrap_interval([0.0, 0.5, 1.0, 1.0], n_boot=500, seed=3)
    assert 0.0 <= lo <= 0.625 <= hi <= 1.0
    with pytest.raises(ValueError):
        bootstrap_interval([])
