"""Per-token divergences between a teacher and a student distribution, given as log-probabilities.

Every function takes `logp_t` and `logp_s` of the same shape [..., C] (log-probabilities over the
last dimension, already at the distillation temperature and normalised) and returns [...]: one
divergence per token. C is the vocabulary for full-vocabulary distillation, or k + 1 buckets (the
teacher's top-k tokens plus one tail bucket) for top-k distillation; the maths is the same.

Conventions (p_T teacher, p_S student):
  forward_kl  KL(p_T || p_S) = sum_v p_T(v) (log p_T(v) - log p_S(v))   -- mean-seeking, Hinton KD
  reverse_kl  KL(p_S || p_T) = sum_v p_S(v) (log p_S(v) - log p_T(v))   -- mode-seeking
  jsd         generalized Jensen-Shannon divergence with weight beta in [0, 1] (GKD, Agarwal et al.
              2024; same convention as TRL's `generalized_jsd_loss`):
                  m      = beta * p_T + (1 - beta) * p_S
                  JSD_b  = beta * KL(p_T || m) + (1 - beta) * KL(p_S || m)
              beta = 0.5 is the ordinary (symmetric) JSD, bounded by log 2.
              Both ends of this formula are 0 for every pair of distributions, which would make the
              loss silently vanish; near the ends JSD_b ~ beta * KL(p_T || p_S) (beta -> 0) and
              JSD_b ~ (1 - beta) * KL(p_S || p_T) (beta -> 1). So, as in TRL, the end points are
              defined by those limits of the *shape*: beta = 0 is forward KL and beta = 1 is
              reverse KL, exactly. (The tests check JSD_b / beta -> forward KL and
              JSD_b / (1 - beta) -> reverse KL.)

Inputs must be finite: callers floor log-probabilities (see kd_topk.LOGPROB_FLOOR) so a zero
probability is a very negative number, never -inf; then p * (log p - log q) is 0 * finite = 0 and
no inf - inf or 0 * inf NaN can reach the gradients.
"""
from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor

KDKind = Literal["forward_kl", "reverse_kl", "jsd"]
KD_KINDS: tuple[str, ...] = get_args(KDKind)


def kl_divergence(logp: Tensor, logq: Tensor) -> Tensor:
    """KL(p || q) over the last dimension, from log-probabilities."""
    return (logp.exp() * (logp - logq)).sum(dim=-1)


def forward_kl(logp_t: Tensor, logp_s: Tensor) -> Tensor:
    """KL(p_T || p_S): the student is pushed to cover every token the teacher gives mass to."""
    return kl_divergence(logp_t, logp_s)


def reverse_kl(logp_t: Tensor, logp_s: Tensor) -> Tensor:
    """KL(p_S || p_T): the student is pushed off tokens the teacher finds unlikely."""
    return kl_divergence(logp_s, logp_t)


def generalized_jsd(logp_t: Tensor, logp_s: Tensor, beta: float) -> Tensor:
    """JSD_beta as defined in the module docstring (beta = 0: forward KL, beta = 1: reverse KL)."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"jsd beta must be in [0, 1], got {beta}")
    if beta == 0.0:
        return forward_kl(logp_t, logp_s)
    if beta == 1.0:
        return reverse_kl(logp_t, logp_s)
    # log m computed in log space: m can be far below the smallest normal float where both
    # distributions are tiny, and logaddexp keeps it finite and exact there.
    log_m = torch.logaddexp(logp_t + math.log(beta), logp_s + math.log1p(-beta))
    return beta * kl_divergence(logp_t, log_m) + (1.0 - beta) * kl_divergence(logp_s, log_m)


def _resolve(kind: str, beta: float) -> str:
    """The JSD end points are the KLs (module docstring); unknown names fail here."""
    if kind not in KD_KINDS:
        raise ValueError(f"unknown KD loss kind {kind!r}; choose one of {', '.join(KD_KINDS)}")
    if kind == "jsd":
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"jsd beta must be in [0, 1], got {beta}")
        return {0.0: "forward_kl", 1.0: "reverse_kl"}.get(beta, "jsd")
    return kind


def divergence_and_grad(kind: str, logp_t: Tensor, logp_s: Tensor,
                        beta: float = 0.5) -> tuple[Tensor, Tensor]:
    """(d [...], u [..., C]) with d = divergence(kind, logp_t, logp_s, beta) and u = dd/d(logp_s),
    the partial derivatives with each entry of logp_s treated as a free variable. The fused loss
    chains u through log_softmax itself instead of keeping an autograd graph per chunk.

        forward KL  d = sum q (lq - ls)                 u = -q
        reverse KL  d = sum s (ls - lq)                 u = s (ls - lq + 1)
        jsd         d = b sum q (lq - lm) + (1 - b) sum s (ls - lm)
                    u = (1 - b) s (ls - lm)      (the terms through m cancel: b q + (1 - b) s = m)
    with q = p_T, s = p_S, l = log. `logp_t` is not modified; temporaries are reused in place."""
    kind = _resolve(kind, beta)
    # Written for memory: at most ~3 extra [.., C] buffers besides the inputs (C can be 152k).
    if kind == "forward_kl":
        q = logp_t.exp()
        d = torch.sub(logp_t, logp_s).mul_(q).sum(dim=-1)
        return d, q.neg_()
    if kind == "reverse_kl":
        r = torch.sub(logp_s, logp_t).mul_(logp_s.exp())      # p_S (log p_S - log p_T)
        d = r.sum(dim=-1)
        return d, r.add_(logp_s.exp())
    r = logp_s + math.log1p(-beta)
    torch.logaddexp(r, logp_t + math.log(beta), out=r)     # log m
    d_t = torch.sub(logp_t, r).mul_(logp_t.exp()).sum(dim=-1)
    r.neg_().add_(logp_s).mul_(logp_s.exp())                # p_S (log p_S - log m)
    d = beta * d_t + (1.0 - beta) * r.sum(dim=-1)
    return d, r.mul_(1.0 - beta)


def divergence(kind: str, logp_t: Tensor, logp_s: Tensor, beta: float = 0.5) -> Tensor:
    """Dispatch on the config name; `beta` is used by "jsd" only."""
    kind = _resolve(kind, beta)
    if kind == "forward_kl":
        return forward_kl(logp_t, logp_s)
    if kind == "reverse_kl":
        return reverse_kl(logp_t, logp_s)
    return generalized_jsd(logp_t, logp_s, beta)
