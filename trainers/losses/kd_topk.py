"""Top-k teacher targets: the k most likely tokens per position plus one "tail" bucket.

Storing a 152k-way teacher distribution per token is impossible (600 KB a token in fp32), so the
offline cache keeps, per trained token, the teacher's top-k token ids, their log-probabilities and
the log of the remaining mass. Distillation then compares k + 1 buckets:

    K            = ids of the teacher's k most likely tokens (real vocabulary only, ids < vocab_size)
    teacher      q_T = ( p_T(v) for v in K ,  1 - sum_{v in K} p_T(v) )
    student      q_S = ( p_S(v) for v in K ,  sum_{v not in K, v < vocab_size} p_S(v) )
    loss         D(q_T, q_S), D one of kd_divergences (forward/reverse KL, JSD)

p_T and p_S are softmax(logits[:vocab_size] / temperature). Both bucket vectors sum to 1, so the
divergences keep their meaning (>= 0, zero when the student matches the teacher on K and in total
tail mass). On-the-fly distillation can use the same restriction (`restrict_topk=k`), which is what
makes "distill from cache" and "distill from a live teacher" comparable number for number.

The tail is computed as logsumexp over the non-top-k log-probabilities, not as log(1 - sum top-k):
when the top-k hold nearly all the mass, 1 - sum loses every significant digit, while the direct
sum over the rest stays exact. It costs one masked copy of the chunk, which is already in memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# Log-probabilities are floored here instead of being allowed to reach -inf: exp(-1e4) is 0 in every
# float type, so nothing changes numerically, but inf - inf and 0 * inf never appear in the KL
# formulas or their gradients. -1e4 is also representable in fp16 (cache storage).
LOGPROB_FLOOR = -1.0e4


@dataclass
class TopKTargets:
    """Teacher targets for N positions. Row i belongs to the same position as student hidden row i.

    indices      [N, k] integer token ids (int32 in the cache, any integer dtype accepted)
    logprobs     [N, k] teacher log-probabilities of those ids, at `temperature`
    tail_logprob [N]    log of the teacher mass outside the k ids
    temperature  the softmax temperature the log-probabilities were computed at; distillation must
                 use the same one (tempering cannot be redone exactly once the tail is summed)
    """

    indices: Tensor
    logprobs: Tensor
    tail_logprob: Tensor
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.indices.dim() != 2 or self.logprobs.shape != self.indices.shape:
            raise ValueError(
                f"top-k indices and logprobs must both be [N, k]; got {tuple(self.indices.shape)} "
                f"and {tuple(self.logprobs.shape)}")
        if self.tail_logprob.shape != self.indices.shape[:1]:
            raise ValueError(f"tail_logprob must be [N] = [{self.indices.shape[0]}], "
                             f"got {tuple(self.tail_logprob.shape)}")
        if self.indices.is_floating_point():
            raise ValueError("top-k indices must be an integer tensor")

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def __len__(self) -> int:
        return self.indices.shape[0]

    def select(self, rows: Tensor) -> "TopKTargets":
        """The targets of the given positions (a 1-D index tensor), in that order."""
        return TopKTargets(self.indices.index_select(0, rows), self.logprobs.index_select(0, rows),
                           self.tail_logprob.index_select(0, rows), self.temperature)


@torch.no_grad()
def topk_of_logprobs(logp: Tensor, k: int, temperature: float = 1.0) -> TopKTargets:
    """Top-k targets of normalised log-probabilities [n, V] (already at `temperature`, which is
    only recorded). The tail is logsumexp over the other ids, see the module docstring."""
    top_lp, top_ix = torch.topk(logp, k, dim=-1)
    tail = torch.logsumexp(logp.scatter(-1, top_ix, float("-inf")), dim=-1)
    return TopKTargets(top_ix, top_lp.clamp_min(LOGPROB_FLOOR), tail.clamp_min(LOGPROB_FLOOR),
                       temperature)


@torch.no_grad()
def compute_topk(teacher_logits: Tensor, k: int, vocab_size: int, *, temperature: float = 1.0,
                 chunk_size: int = 1024) -> TopKTargets:
    """Top-k targets from teacher logits [T, V_rows]; columns >= vocab_size (padding rows of the
    embedding matrix) are dropped before the softmax. Rows are processed `chunk_size` at a time so
    only one chunk is ever upcast to fp32. Returns int64 indices and fp32 log-probabilities."""
    if teacher_logits.dim() != 2:
        raise ValueError(f"teacher_logits must be [T, V], got {tuple(teacher_logits.shape)}")
    if not 0 < vocab_size <= teacher_logits.shape[1]:
        raise ValueError(f"vocab_size {vocab_size} must be in 1..{teacher_logits.shape[1]} "
                         "(the number of logit columns)")
    if not 0 < k < vocab_size:
        raise ValueError(f"top-k k={k} must be in 1..{vocab_size - 1} so that a tail bucket exists")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    parts = []
    for start in range(0, teacher_logits.shape[0], chunk_size):
        # one fp32 buffer per chunk (a copy, so the caller's logits are untouched), normalised in place
        z = teacher_logits[start:start + chunk_size, :vocab_size].to(torch.float32, copy=True)
        z.div_(temperature)
        parts.append(topk_of_logprobs(z.sub_(torch.logsumexp(z, -1, keepdim=True)), k))
    if not parts:  # zero rows: keep shapes consistent for concatenation by callers
        empty = teacher_logits.new_empty((0, k))
        return TopKTargets(empty.long(), empty.float(), empty.new_empty((0,)).float(), temperature)
    return TopKTargets(torch.cat([p.indices for p in parts]), torch.cat([p.logprobs for p in parts]),
                       torch.cat([p.tail_logprob for p in parts]), temperature)


def teacher_bucket_logprobs(targets: TopKTargets) -> Tensor:
    """[n, k + 1] log q_T: the k top log-probs then the tail, renormalised. Renormalising is a
    no-op for exact targets; for targets stored in fp16/bf16 it removes the rounding drift, so q_T
    is a distribution again and KL(q, q) stays exactly 0."""
    buckets = torch.cat([targets.logprobs.float(), targets.tail_logprob.float().unsqueeze(-1)], -1)
    return torch.log_softmax(buckets.clamp_min(LOGPROB_FLOOR), dim=-1)


def student_bucket_logprobs(logp_s: Tensor, indices: Tensor) -> Tensor:
    """[n, k + 1] log q_S from the student's full log-probabilities [n, V] (V = vocab_size): the
    log-probs at the teacher's ids, then logsumexp over every other id. Differentiable."""
    indices = indices.long()
    top = logp_s.gather(-1, indices)
    tail = torch.logsumexp(logp_s.scatter(-1, indices, float("-inf")), dim=-1, keepdim=True)
    return torch.cat([top, tail], dim=-1).clamp_min(LOGPROB_FLOOR)


def bucket_grad_to_vocab(u: Tensor, student_buckets: Tensor, logp_s: Tensor,
                         indices: Tensor) -> Tensor:
    """Chain rule from the buckets back to the vocabulary: given u = dD/d(log q_S) [n, k + 1],
    return dD/d(log p_S) [n, V]. A top-k bucket is one token's log-prob, so token K_i gets u_i; the
    tail bucket is logsumexp of the other tokens, so each of them gets u_tail * p_S(v) / tail."""
    tail = student_buckets[:, -1:]
    w = torch.sub(logp_s, tail).exp_().mul_(u[:, -1:])
    return w.scatter_(-1, indices.long(), u[:, :-1])
