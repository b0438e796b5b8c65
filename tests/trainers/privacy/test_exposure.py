"""Exposure (Carlini et al. 2019) against a naive computation, and the chance level it must sit at."""
import math
import random

import pytest

from trainers.privacy.exposure import exposure, log2_normal_cdf, rank_among


def naive_exposure(score, candidates):
    """The paper's definition written out: sort R = candidates + secret, find the secret's rank
    (ties put the secret last among equals), exposure = log2|R| - log2 rank."""
    pool = sorted([(c, 0) for c in candidates] + [(score, 1)])
    rank = [i for i, (_, is_secret) in enumerate(pool, 1) if is_secret][0]
    return math.log2(len(pool)) - math.log2(rank), rank


def test_sampled_exposure_equals_the_sorted_rank_definition():
    rng = random.Random(0)
    for _ in range(200):
        candidates = [round(rng.gauss(30, 4), 1) for _ in range(rng.randrange(2, 60))]
        score = rng.choice([round(rng.gauss(30, 4), 1), rng.choice(candidates), min(candidates) - 5])
        bits, rank = naive_exposure(score, candidates)
        got = exposure(score, candidates)
        assert (got.rank, got.pool) == (rank, len(candidates) + 1)
        assert got.bits == pytest.approx(bits, abs=1e-12) and got.max_bits == pytest.approx(math.log2(got.pool))


def test_first_place_reaches_log2_pool_and_never_inserted_secrets_sit_at_chance():
    rng = random.Random(1)
    candidates = [rng.gauss(40, 5) for _ in range(999)]
    assert exposure(0.0, candidates).bits == pytest.approx(math.log2(1000))
    # leave-one-out: each candidate ranked against the others is an unseen secret; mean ~ 1/ln 2 bits
    mean = sum(exposure(c, candidates[:i] + candidates[i + 1:]).bits for i, c in enumerate(candidates)) / 999
    assert mean == pytest.approx(1 / math.log(2), abs=0.03)
    assert rank_among(max(candidates), candidates) == 1000


def test_extrapolated_exposure_is_the_normal_tail_in_bits():
    rng = random.Random(2)
    candidates = [rng.gauss(0, 1) for _ in range(20000)]
    for z in (0.0, -2.0, -5.0, -12.0):
        tail = 0.5 * math.erfc(-z / math.sqrt(2))
        assert exposure(z, candidates).extrapolated_bits == pytest.approx(-math.log2(tail), rel=0.02, abs=0.02)
    # deep tail: the asymptotic branch joins the exact one
    assert log2_normal_cdf(-30.0001) == pytest.approx(log2_normal_cdf(-29.9999), abs=0.01)   # slope 43 bits per unit
    assert log2_normal_cdf(-35) == pytest.approx(math.log2(0.5 * math.erfc(35 / math.sqrt(2))), rel=1e-6)
