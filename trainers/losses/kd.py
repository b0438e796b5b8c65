"""Chunked logit distillation loss: teacher -> student, never holding full-sequence logits.

With a 152k vocabulary the logits are the largest activation of a small model (1.16 GiB of fp32 for
one 2048-token sequence, times two models, times the softmax intermediates). So the loss takes the
final hidden states and the output-head weights instead of logits, keeps only the trained (masked-in)
positions, and walks over them `chunk_size` rows at a time. Each chunk builds its student and teacher
log-probabilities, the divergence, and at once the gradient of that divergence w.r.t. the student
logits (analytic: kd_divergences.divergence_and_grad, chained through log_softmax here), which it
turns into gradients for the hidden states and the head weight before the chunk is dropped. Backward
only scales those stored gradients -- the same design as chunked_ce.py. Compared with activation
checkpointing per chunk this keeps about half as many [chunk, vocab] buffers alive and skips the
recomputed head matmul.

The teacher is either live (`teacher_hidden` + `teacher_head_weight`, optionally restricted to its
top-k with `restrict_topk`) or an offline top-k cache (`teacher_topk`, see kd_topk.py). The divergence
conventions, the exact JSD definition among them, are in kd_divergences.py.

The loss is returned as a SUM over trained tokens together with the token count: the training loop
divides by the token count of the whole accumulated batch, which keeps gradient accumulation exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from trainers.errors import UserError
from trainers.losses.kd_divergences import KD_KINDS, divergence, divergence_and_grad
from trainers.losses.kd_topk import (TopKTargets, bucket_grad_to_vocab, student_bucket_logprobs,
                                     teacher_bucket_logprobs, topk_of_logprobs)


@dataclass
class _KDSetup:
    """Everything a chunk needs besides the student tensors (autograd does not look inside)."""
    rows: Tensor                       # [M] positions to distil
    kind: str
    beta: float
    temperature: float
    vocab_size: int
    chunk_size: int
    scale: float                       # temperature**2 or 1
    teacher_hidden: Tensor | None = None
    teacher_head_weight: Tensor | None = None
    restrict_topk: int | None = None
    teacher_topk: TopKTargets | None = None


def _log_softmax_logits(hidden: Tensor, head_weight: Tensor, vocab_size: int,
                        temperature: float) -> Tensor:
    """log_softmax(logits / temperature) over the real vocabulary, fp32, built in one buffer.
    Rows of the head beyond `vocab_size` are embedding padding (Qwen pads 151,665 tokens to 151,936
    or 152,064 rows); dropping them keeps both models' distributions on the same real tokens."""
    z = (hidden.to(head_weight.dtype) @ head_weight[:vocab_size].T).float().div_(temperature)
    return z.sub_(torch.logsumexp(z, dim=-1, keepdim=True))


def _teacher_logprobs(setup: _KDSetup, idx: Tensor) -> tuple[Tensor, Tensor | None]:
    """Teacher log-probs of one chunk: [c, V] (full vocabulary) or [c, k + 1] buckets with the
    teacher's top-k ids [c, k] (top-k from a cache, or a live teacher restricted to its top-k)."""
    if setup.teacher_topk is not None:
        t = setup.teacher_topk.select(idx.to(setup.teacher_topk.indices.device))
        t = TopKTargets(*(x.to(idx.device) for x in (t.indices, t.logprobs, t.tail_logprob)))
        return teacher_bucket_logprobs(t), t.indices.long()
    h_t = setup.teacher_hidden.index_select(0, idx)
    logp_t = _log_softmax_logits(h_t, setup.teacher_head_weight, setup.vocab_size,
                                 setup.temperature)
    if setup.restrict_topk is None:
        return logp_t, None
    # exactly what compute_topk does for the cache, minus its own softmax (logp_t is normalised)
    t = topk_of_logprobs(logp_t, setup.restrict_topk)
    del logp_t
    return teacher_bucket_logprobs(t), t.indices


def _chunk(h_s: Tensor, w_s: Tensor, setup: _KDSetup, idx: Tensor,
           want_grad: bool) -> tuple[Tensor, Tensor | None]:
    """(summed scaled divergence, its gradient w.r.t. the chunk's student logits [c, V] or None)."""
    logp_t, top_ix = _teacher_logprobs(setup, idx)
    logp_s = _log_softmax_logits(h_s, w_s, setup.vocab_size, setup.temperature)
    lb_s = logp_s if top_ix is None else student_bucket_logprobs(logp_s, top_ix)
    if not want_grad:
        return divergence(setup.kind, logp_t, lb_s, setup.beta).sum() * setup.scale, None
    d, u = divergence_and_grad(setup.kind, logp_t, lb_s, setup.beta)
    del logp_t
    # u = dD/d(student log-probs or buckets). Chain through the buckets (top-k) to the vocabulary,
    # then through log_softmax: dD/dz = w - p * sum(w), and through z = logits / temperature.
    w = u if top_ix is None else bucket_grad_to_vocab(u, lb_s, logp_s, top_ix)
    w_sum = w.sum(dim=-1, keepdim=True)
    p_s = logp_s.exp_()  # logp_s is not needed any more: reuse its buffer
    grad_logits = w.sub_(p_s.mul_(w_sum)).mul_(setup.scale / setup.temperature)
    return d.sum() * setup.scale, grad_logits


def _chunked_forward(h: Tensor, w_s: Tensor, setup: _KDSetup, need_h: bool, need_w: bool):
    """Loss sum over the chunks and, as asked, the gradients w.r.t. hidden and head weight."""
    device, mm_dtype = h.device, w_s.dtype
    loss = torch.zeros((), dtype=torch.float32, device=device)
    grad_h = torch.zeros_like(h) if need_h else None
    # The weight gradient sums over every token: accumulate in fp32, cast once in backward.
    grad_w = torch.zeros(w_s.shape, dtype=torch.float32, device=device) if need_w else None
    V = setup.vocab_size
    # Autocast would re-cast the matmuls; the dtypes here are chosen deliberately (as chunked_ce).
    with torch.autocast(device.type, enabled=False):
        for start in range(0, setup.rows.numel(), setup.chunk_size):
            idx = setup.rows[start:start + setup.chunk_size]
            h_c = h.index_select(0, idx).to(mm_dtype)
            part, g = _chunk(h_c, w_s, setup, idx, need_h or need_w)
            loss += part
            if need_h:
                grad_h.index_copy_(0, idx, (g.to(mm_dtype) @ w_s[:V]).to(grad_h.dtype))
            if need_w:  # rows >= V (padding) get no gradient: they never reached the softmax
                grad_w[:V].addmm_(g.t(), h_c.float())
            del g
    return loss, grad_h, grad_w


class _ChunkedKD(torch.autograd.Function):
    """Gradients are computed in forward (that is what keeps memory flat); backward scales them."""

    @staticmethod
    def forward(ctx, h, w_s, setup):
        loss, grad_h, grad_w = _chunked_forward(h, w_s, setup, *ctx.needs_input_grad[:2])
        ctx.save_for_backward(grad_h, grad_w)
        ctx.dtypes = (h.dtype, w_s.dtype)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        scale = grad_out.float()
        out_h = (grad_h.float() * scale).to(ctx.dtypes[0]) if grad_h is not None else None
        out_w = (grad_w * scale).to(ctx.dtypes[1]) if grad_w is not None else None
        return out_h, out_w, None


def chunked_kd_loss(student_hidden: Tensor, student_head_weight: Tensor, *,
                    teacher_hidden: Tensor | None = None, teacher_head_weight: Tensor | None = None,
                    teacher_topk: TopKTargets | None = None, mask: Tensor, kind: str,
                    beta: float = 0.5, temperature: float = 1.0, vocab_size: int,
                    chunk_size: int = 1024, restrict_topk: int | None = None,
                    scale_by_temperature_sq: bool = True) -> tuple[Tensor, Tensor]:
    """Distillation loss summed over the positions where `mask` is True.

    student_hidden [N, H_s] final hidden states (after the final norm), row i predicting token i+1
        -- aligning rows with targets is the caller's job; N is batch * seq flattened.
    student_head_weight [V_s, H_s] the output head (frozen under LoRA or trainable; gradients flow to
        whichever of hidden / weight requires them).
    Teacher, exactly one of:
        teacher_hidden [N, H_t] + teacher_head_weight [V_t, H_t]  a live teacher, no gradients; or
        teacher_topk TopKTargets with N rows                       an offline cache (k + 1 buckets).
    mask [N] bool: the trained tokens. kind: "forward_kl" | "reverse_kl" | "jsd" (beta for jsd).
    temperature: both models' logits are divided by it before the softmax; with
        `scale_by_temperature_sq` the loss is multiplied by temperature**2 (Hinton et al.) so
        gradient magnitudes do not shrink as the temperature grows.
    vocab_size: the real tokenizer size shared by both models; logit columns >= it are dropped.
    restrict_topk: with a live teacher, compare on the teacher's top-k plus a tail bucket exactly as
        a cache built with the same k would (see kd_topk.py).
    chunk_size: rows per chunk; peak extra memory is about 5 * chunk_size * vocab fp32 values
        (~3 GiB at 1024 x 152k), so low-memory GPUs want 128-256.

    Returns (loss_sum: fp32 scalar, n_tokens: int64 scalar). With no trained token the sum is an
    exact 0 that is still attached to the inputs, so backward runs and gives zero gradients.
    """
    _validate(student_hidden, student_head_weight, teacher_hidden, teacher_head_weight,
              teacher_topk, mask, kind, temperature, vocab_size, chunk_size, restrict_topk)
    rows = mask.nonzero().squeeze(1)
    setup = _KDSetup(rows=rows, kind=kind, beta=beta, temperature=temperature,
                     vocab_size=vocab_size, chunk_size=chunk_size,
                     scale=temperature ** 2 if scale_by_temperature_sq else 1.0,
                     teacher_hidden=None if teacher_hidden is None else teacher_hidden.detach(),
                     teacher_head_weight=(None if teacher_head_weight is None
                                          else teacher_head_weight.detach()),
                     restrict_topk=restrict_topk, teacher_topk=teacher_topk)
    n_tokens = torch.tensor(rows.numel(), dtype=torch.int64, device=student_hidden.device)
    wants_grad = torch.is_grad_enabled() and (
        student_hidden.requires_grad or student_head_weight.requires_grad)
    if not wants_grad:
        return _chunked_forward(student_hidden, student_head_weight, setup, False, False)[0], n_tokens
    return _ChunkedKD.apply(student_hidden, student_head_weight, setup), n_tokens


def _validate(h_s: Tensor, w_s: Tensor, h_t: Tensor | None, w_t: Tensor | None,
              topk: TopKTargets | None, mask: Tensor, kind: str, temperature: float,
              vocab_size: int, chunk_size: int, restrict_topk: int | None) -> None:
    """Shape and option checks up front, so a wrong call fails before any large matmul."""
    if kind not in KD_KINDS:
        raise ValueError(f"unknown KD loss kind {kind!r}; choose one of {', '.join(KD_KINDS)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    n = h_s.shape[0]
    if h_s.dim() != 2 or w_s.dim() != 2 or w_s.shape[1] != h_s.shape[1]:
        raise ValueError(f"student hidden [N, H] and head weight [V, H] do not fit: "
                         f"{tuple(h_s.shape)} vs {tuple(w_s.shape)}")
    if mask.shape != (n,) or mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor of shape [{n}], got {mask.dtype} "
                         f"{tuple(mask.shape)}")
    if not 0 < vocab_size <= w_s.shape[0]:
        raise ValueError(f"vocab_size {vocab_size} exceeds the student head's {w_s.shape[0]} rows")
    live = h_t is not None or w_t is not None
    if live == (topk is not None):
        raise ValueError("give either teacher_hidden + teacher_head_weight or teacher_topk")
    if live:
        if h_t is None or w_t is None:
            raise ValueError("a live teacher needs both teacher_hidden and teacher_head_weight")
        if h_t.shape[0] != n or w_t.shape[1] != h_t.shape[1]:
            raise ValueError(f"teacher hidden {tuple(h_t.shape)} / head {tuple(w_t.shape)} do not "
                             f"fit N={n}")
        if vocab_size > w_t.shape[0]:
            raise ValueError(f"vocab_size {vocab_size} exceeds the teacher head's {w_t.shape[0]} rows")
        if restrict_topk is not None and not 0 < restrict_topk < vocab_size:
            raise ValueError(f"restrict_topk must be in 1..{vocab_size - 1}, got {restrict_topk}")
        return
    if restrict_topk is not None:
        raise ValueError("restrict_topk applies to a live teacher; a cache is already top-k")
    if len(topk) != n:
        raise ValueError(f"teacher_topk has {len(topk)} rows, student hidden has {n}")
    if abs(topk.temperature - temperature) > 1e-6:
        raise UserError(
            f"the teacher top-k targets were computed at temperature {topk.temperature}, but the "
            f"distillation temperature is {temperature}; set the KD temperature to "
            f"{topk.temperature} or rebuild the cache with `kdtune run distill-cache`")
    if n and int(topk.indices.max()) >= vocab_size:
        raise ValueError(f"teacher top-k ids reach {int(topk.indices.max())}, beyond vocab_size "
                         f"{vocab_size}: the cache was built for a different vocabulary")
