"""Exposure of a canary (Carlini et al., "The Secret Sharer", USENIX Security 2019), pure math.

A secret's log-perplexity under the model, given the context it was trained in, is compared with
that of candidates of the same format that were never trained on:

    rank     = 1 + #{candidates whose log-perplexity <= the secret's}       (1 = the most likely)
    exposure = log2 |R| - log2 rank                                          (bits)

with R = the candidates plus the secret. A secret the model has not seen is just another candidate:
its rank is uniform, its expected exposure about 1/ln 2 = 1.44 bits, and exposure >= t bits happens
by chance with probability 2^-t. A secret the model memorised ranks first: exposure log2 |R|.

Ties count against the secret (<=): a tie is no evidence of memorisation.

The sampled estimate cannot exceed log2 |R|; the paper extrapolates past it by fitting the
candidates' distribution and reading the secret's tail probability: exposure = -log2 P(x <= secret).
We fit a normal (a log-perplexity is a sum of per-token terms; the paper fits a skew-normal, whose
tail here differs by a few bits at most); it is reported beside the sampled value, never instead of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Exposure:
    rank: int              # 1-based, among the candidates and the secret
    pool: int              # |R| = candidates + 1
    bits: float            # sampled exposure, log2(pool) - log2(rank)
    max_bits: float        # log2(pool): what rank 1 gives
    extrapolated_bits: float   # -log2 of the fitted normal's CDF at the secret's log-perplexity


def rank_among(score: float, candidates: list[float]) -> int:
    """1 + how many candidates are at least as likely (log-perplexity <= score)."""
    return 1 + sum(1 for c in candidates if c <= score)


def log2_normal_cdf(z: float) -> float:
    """log2 Phi(z), accurate far into the lower tail (erfc underflows below z = -37)."""
    if z > -30:
        return math.log2(0.5 * math.erfc(-z / math.sqrt(2)))
    # Mills ratio: Phi(z) = phi(z) / -z * (1 - 1/z^2 + 3/z^4 - ...), z << 0
    log_phi = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
    return (log_phi - math.log(-z) + math.log1p(-1 / z**2 + 3 / z**4)) / math.log(2)


def exposure(score: float, candidates: list[float]) -> Exposure:
    """The secret's exposure against never-inserted candidates (log-perplexities, any one base)."""
    if len(candidates) < 2:
        raise ValueError("exposure needs at least two candidates")
    pool = len(candidates) + 1
    rank = rank_among(score, candidates)
    mean = sum(candidates) / len(candidates)
    std = math.sqrt(sum((c - mean) ** 2 for c in candidates) / (len(candidates) - 1))
    extrapolated = -log2_normal_cdf((score - mean) / std) if std > 0 else (math.inf if score < mean else 1.0)
    return Exposure(rank, pool, math.log2(pool) - math.log2(rank), math.log2(pool), extrapolated)
