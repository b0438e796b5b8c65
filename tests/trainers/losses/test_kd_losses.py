"""Chunked KD losses against a naive full-vocabulary reference written here, straight from the formulas.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/losses/test_kd_losses.py -q
"""
from __future__ import annotations

import pytest
import torch

from trainers.errors import UserError
from trainers.losses.kd import chunked_kd_loss
from trainers.losses.kd_divergences import (divergence, divergence_and_grad, forward_kl,
                                            generalized_jsd, reverse_kl)
from trainers.losses.kd_topk import TopKTargets, compute_topk

N, H_S, H_T = 37, 16, 24           # 37 positions: no chunk size used below divides it
V_REAL, V_S_ROWS, V_T_ROWS = 61, 70, 80   # real vocabulary, padded student / teacher head rows
KINDS = ["forward_kl", "reverse_kl", "jsd"]
TOL = 1e-5   # fp32: absolute for values of magnitude <= 1, relative above (a sum of 37 tokens
             # near 64 has an ulp of 7.6e-6, so an absolute 1e-5 there would test rounding luck)


def make_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h_s = torch.randn(N, H_S, generator=g).requires_grad_()
    w_s = (0.3 * torch.randn(V_S_ROWS, H_S, generator=g)).requires_grad_()
    h_t = torch.randn(N, H_T, generator=g)
    w_t = 0.3 * torch.randn(V_T_ROWS, H_T, generator=g)
    return h_s, w_s, h_t, w_t


def random_mask(seed: int = 1) -> torch.Tensor:
    mask = torch.rand(N, generator=torch.Generator().manual_seed(seed)) < 0.6
    assert 0 < mask.sum() < N
    return mask


# ----------------------------------------------------------------------------- naive reference
def naive_kd(h_s, w_s, h_t, w_t, mask, kind, beta=0.5, tau=1.0, topk=None, scale=True):
    """Full logits, full softmax, the textbook formulas; optional top-k restriction by 1 - sum."""
    p_s = torch.softmax((h_s @ w_s.T)[:, :V_REAL] / tau, dim=-1)
    p_t = torch.softmax((h_t @ w_t.T)[:, :V_REAL] / tau, dim=-1)
    if topk is not None:
        top_t, ix = p_t.topk(topk, dim=-1)
        top_s = p_s.gather(1, ix)
        p_t = torch.cat([top_t, 1 - top_t.sum(1, keepdim=True)], 1)
        p_s = torch.cat([top_s, 1 - top_s.sum(1, keepdim=True)], 1)

    def kl(p, q):
        return (p * (p.log() - q.log())).sum(-1)

    if kind == "forward_kl":
        d = kl(p_t, p_s)
    elif kind == "reverse_kl":
        d = kl(p_s, p_t)
    else:
        m = beta * p_t + (1 - beta) * p_s
        d = beta * kl(p_t, m) + (1 - beta) * kl(p_s, m)
    return (d * mask).sum() * (tau ** 2 if scale else 1.0)


def loss_and_grads(fn):
    h_s, w_s, h_t, w_t = make_inputs()
    loss = fn(h_s, w_s, h_t, w_t)
    if isinstance(loss, tuple):
        loss = loss[0]
    loss.backward()
    return loss.detach(), h_s.grad, w_s.grad


def max_err(a, b) -> float:
    """Largest error of a against b, relative where |b| > 1 (see TOL)."""
    return ((a - b).abs() / b.abs().clamp_min(1.0)).max().item()


# ----------------------------------------------------------------------------- chunked == naive
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tau", [1.0, 2.0])
@pytest.mark.parametrize("mask_kind", ["random", "all"])
@pytest.mark.parametrize("restrict_topk", [None, 5])
def test_chunked_equals_naive_loss_and_grads(kind, tau, mask_kind, restrict_topk):
    mask = random_mask() if mask_kind == "random" else torch.ones(N, dtype=torch.bool)
    ref = loss_and_grads(lambda hs, ws, ht, wt: naive_kd(hs, ws, ht, wt, mask, kind, 0.3, tau,
                                                         topk=restrict_topk))
    got = loss_and_grads(lambda hs, ws, ht, wt: chunked_kd_loss(
        hs, ws, teacher_hidden=ht, teacher_head_weight=wt, mask=mask, kind=kind, beta=0.3,
        temperature=tau, vocab_size=V_REAL, chunk_size=8, restrict_topk=restrict_topk))
    assert ref[0] > 0.1  # a real, non-trivial loss is being compared
    for r, c in zip(ref, got):
        assert max_err(r, c) < TOL, (kind, tau, mask_kind, max_err(r, c))
    # padded head rows get no gradient: they are dropped before the softmax
    assert torch.all(got[2][V_REAL:] == 0)


def test_token_count_and_sum_not_mean():
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    loss, n = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                              kind="forward_kl", vocab_size=V_REAL, chunk_size=8)
    assert n.dtype == torch.int64 and n.item() == int(mask.sum())
    assert loss.dtype == torch.float32 and loss.dim() == 0
    half = mask.clone()
    half[torch.nonzero(mask)[::2, 0]] = False
    rest = mask & ~half
    parts = [chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=m,
                             kind="forward_kl", vocab_size=V_REAL, chunk_size=8)[0] for m in (half, rest)]
    assert abs((parts[0] + parts[1] - loss).item()) < TOL  # sums over disjoint masks add up


@pytest.mark.parametrize("chunk_size", [1, 5, 36, 37, 1024])
def test_chunk_size_does_not_change_the_result(chunk_size):
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    ref = naive_kd(h_s, w_s, h_t, w_t, mask, "jsd", 0.5, 2.0)
    got, _ = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                             kind="jsd", temperature=2.0, vocab_size=V_REAL, chunk_size=chunk_size)
    assert max_err(ref, got) < TOL


@pytest.mark.parametrize("kind", KINDS)
def test_all_masked_out_is_zero_with_zero_finite_grads(kind):
    h_s, w_s, h_t, w_t = make_inputs()
    mask = torch.zeros(N, dtype=torch.bool)
    loss, n = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                              kind=kind, vocab_size=V_REAL)
    assert loss.item() == 0.0 and n.item() == 0 and not torch.isnan(loss)
    loss.backward()  # still attached to the graph, so a trainer's backward does not fail
    for grad in (h_s.grad, w_s.grad):
        assert torch.isfinite(grad).all() and torch.all(grad == 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("restrict_topk", [None, 7])
def test_identical_distributions_give_zero(kind, restrict_topk):
    h_s, w_s, _, _ = make_inputs()
    loss, _ = chunked_kd_loss(h_s, w_s, teacher_hidden=h_s.detach(),
                              teacher_head_weight=w_s.detach(), mask=torch.ones(N, dtype=torch.bool),
                              kind=kind, temperature=2.0, vocab_size=V_REAL, chunk_size=8,
                              restrict_topk=restrict_topk)
    assert abs(loss.item()) / N < 1e-7  # per token: fp32 rounding only
    loss.backward()
    assert h_s.grad.abs().max() < 1e-6  # zero is a minimum, not just a value


def test_padding_rows_are_ignored():
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    kwargs = dict(mask=mask, kind="forward_kl", vocab_size=V_REAL, chunk_size=8)
    before, _ = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, **kwargs)
    w_s2, w_t2 = w_s.detach().clone(), w_t.clone()
    w_s2[V_REAL:] = 50.0   # padding rows that would dominate any softmax they were part of
    w_t2[V_REAL:] = -50.0
    after, _ = chunked_kd_loss(h_s, w_s2, teacher_hidden=h_t, teacher_head_weight=w_t2, **kwargs)
    assert before.item() == after.item()


def test_teacher_with_more_padding_rows_than_student():
    """The Qwen case: 7B teacher head has more padded rows than the 1.5B student head."""
    h_s, w_s, h_t, w_t = make_inputs()
    assert w_t.shape[0] > w_s.shape[0] > V_REAL
    mask = random_mask()
    got, _ = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                             kind="reverse_kl", vocab_size=V_REAL)
    assert max_err(naive_kd(h_s, w_s, h_t, w_t, mask, "reverse_kl"), got) < TOL


def test_frozen_head_gives_hidden_grads_only():
    h_s, w_s, h_t, w_t = make_inputs()
    w_frozen = w_s.detach()
    mask = random_mask()
    loss, _ = chunked_kd_loss(h_s, w_frozen, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                              kind="jsd", vocab_size=V_REAL, chunk_size=8)
    loss.backward()
    ref_h = h_s.detach().clone().requires_grad_()
    naive_kd(ref_h, w_frozen, h_t, w_t, mask, "jsd").backward()
    assert w_frozen.grad is None and max_err(h_s.grad, ref_h.grad) < TOL


def test_no_full_logits_are_kept_for_backward():
    """Only chunk inputs are saved by the forward pass: no [*, vocab] tensor survives a chunk."""
    h_s, w_s, h_t, w_t = make_inputs()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        loss, _ = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t,
                                  mask=torch.ones(N, dtype=torch.bool), kind="forward_kl",
                                  vocab_size=V_REAL, chunk_size=8)
    assert saved and not [s for s in saved if s[-1] in (V_REAL, V_S_ROWS)]
    # the same hook sees the naive version keep full [N, V] tensors, so the check is meaningful
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        naive_kd(h_s, w_s, h_t, w_t, torch.ones(N, dtype=torch.bool), "forward_kl")
    assert [s for s in saved if s[-1] == V_REAL]


def test_scale_by_temperature_sq_off():
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    kwargs = dict(teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask, kind="forward_kl",
                  temperature=2.0, vocab_size=V_REAL)
    on, _ = chunked_kd_loss(h_s, w_s, **kwargs)
    off, _ = chunked_kd_loss(h_s, w_s, scale_by_temperature_sq=False, **kwargs)
    assert max_err(on / 4.0, off) < TOL
    assert max_err(naive_kd(h_s, w_s, h_t, w_t, mask, "forward_kl", tau=2.0, scale=False), off) < TOL


def test_no_grad_path_equals_grad_path():
    h_s, w_s, h_t, w_t = make_inputs()
    kwargs = dict(teacher_hidden=h_t, teacher_head_weight=w_t, mask=random_mask(), kind="jsd",
                  temperature=2.0, vocab_size=V_REAL, chunk_size=8)
    with_grad, _ = chunked_kd_loss(h_s, w_s, **kwargs)
    with torch.no_grad():
        without, _ = chunked_kd_loss(h_s, w_s, **kwargs)
    assert without.grad_fn is None and max_err(with_grad.detach(), without) < TOL


def test_bf16_head_keeps_dtypes_and_stays_close():
    """bf16 weights (the GPU case): matmuls in bf16, softmax and divergence in fp32."""
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    ref, _ = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                             kind="forward_kl", vocab_size=V_REAL)
    h16 = h_s.detach().bfloat16().requires_grad_()
    w16 = w_s.detach().bfloat16().requires_grad_()
    got, _ = chunked_kd_loss(h16, w16, teacher_hidden=h_t.bfloat16(),
                             teacher_head_weight=w_t.bfloat16(), mask=mask, kind="forward_kl",
                             vocab_size=V_REAL, chunk_size=8)
    got.backward()
    assert got.dtype == torch.float32 and h16.grad.dtype == w16.grad.dtype == torch.bfloat16
    assert abs(got.item() - ref.item()) / ref.item() < 2e-2


@pytest.mark.parametrize("kind,beta", [("forward_kl", 0.5), ("reverse_kl", 0.5), ("jsd", 0.3),
                                       ("jsd", 0.0), ("jsd", 1.0)])
def test_analytic_partials_match_autograd(kind, beta):
    """divergence_and_grad's u is dD/d(logp_s) with each entry free -- checked in fp64 on
    unnormalised inputs, so no term may rely on the student summing to one."""
    g = torch.Generator().manual_seed(4)
    logp_t = torch.log_softmax(torch.randn(6, 25, generator=g, dtype=torch.float64), -1)
    free = (torch.randn(6, 25, generator=g, dtype=torch.float64) - 3.0).requires_grad_()
    d_ref = divergence(kind, logp_t, free, beta)
    (u_ref,) = torch.autograd.grad(d_ref.sum(), free)
    d, u = divergence_and_grad(kind, logp_t, free.detach(), beta)
    assert (d - d_ref).abs().max() < 1e-12 and (u - u_ref).abs().max() < 1e-12


# ----------------------------------------------------------------------------- JSD convention
def test_jsd_end_points_are_forward_and_reverse_kl():
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    kwargs = dict(teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask, vocab_size=V_REAL)
    for beta, kind in [(0.0, "forward_kl"), (1.0, "reverse_kl")]:
        jsd, _ = chunked_kd_loss(h_s, w_s, kind="jsd", beta=beta, **kwargs)
        kl, _ = chunked_kd_loss(h_s, w_s, kind=kind, **kwargs)
        assert jsd.item() == kl.item()


def test_jsd_limits_in_beta_approach_the_kls():
    """JSD_b / b -> KL(T||S) as b -> 0 and JSD_b / (1 - b) -> KL(S||T) as b -> 1, error O(b)."""
    g = torch.Generator().manual_seed(3)
    logp_t = torch.log_softmax(torch.randn(9, 30, generator=g, dtype=torch.float64), -1)
    logp_s = torch.log_softmax(torch.randn(9, 30, generator=g, dtype=torch.float64), -1)
    fwd, rev = forward_kl(logp_t, logp_s), reverse_kl(logp_t, logp_s)
    errs_fwd = [((generalized_jsd(logp_t, logp_s, b) / b - fwd) / fwd).abs().max().item()
                for b in (1e-2, 1e-3, 1e-4)]
    errs_rev = [((generalized_jsd(logp_t, logp_s, 1 - b) / b - rev) / rev).abs().max().item()
                for b in (1e-2, 1e-3, 1e-4)]
    for errs in (errs_fwd, errs_rev):
        assert errs[-1] < 1e-2 and errs[0] > errs[1] > errs[2]  # converges, roughly linearly
    # beta = 0.5 is the symmetric JSD, bounded by log 2
    half = generalized_jsd(logp_t, logp_s, 0.5)
    assert torch.all(half > 0) and torch.all(half <= torch.log(torch.tensor(2.0, dtype=half.dtype)))
    assert torch.allclose(half, generalized_jsd(logp_s, logp_t, 0.5))
    with pytest.raises(ValueError):
        generalized_jsd(logp_t, logp_s, 1.5)


# ----------------------------------------------------------------------------- top-k targets
@pytest.mark.parametrize("kind", KINDS)
def test_topk_targets_equal_restricted_live_teacher(kind):
    """Targets precomputed from full teacher logits give the same loss and grads as restrict_topk."""
    mask = random_mask()
    h_t, w_t = make_inputs()[2:]
    targets = compute_topk(h_t @ w_t.T, 6, V_REAL, temperature=2.0, chunk_size=10)
    live = loss_and_grads(lambda hs, ws, ht, wt: chunked_kd_loss(
        hs, ws, teacher_hidden=ht, teacher_head_weight=wt, mask=mask, kind=kind, temperature=2.0,
        vocab_size=V_REAL, chunk_size=8, restrict_topk=6))
    cached = loss_and_grads(lambda hs, ws, ht, wt: chunked_kd_loss(
        hs, ws, teacher_topk=targets, mask=mask, kind=kind, temperature=2.0, vocab_size=V_REAL,
        chunk_size=8))
    for a, b in zip(live, cached):
        assert max_err(a, b) < TOL


def test_topk_temperature_mismatch_is_a_user_error():
    h_s, w_s, h_t, w_t = make_inputs()
    targets = compute_topk(h_t @ w_t.T, 4, V_REAL, temperature=1.0)
    with pytest.raises(UserError, match="temperature 1.0.*distillation temperature is 2.0"):
        chunked_kd_loss(h_s, w_s, teacher_topk=targets, mask=random_mask(), kind="forward_kl",
                        temperature=2.0, vocab_size=V_REAL)


def test_bad_calls_fail_fast():
    h_s, w_s, h_t, w_t = make_inputs()
    mask = random_mask()
    with pytest.raises(ValueError, match="unknown KD loss kind"):
        chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask,
                        kind="kl", vocab_size=V_REAL)
    with pytest.raises(ValueError, match="either"):
        chunked_kd_loss(h_s, w_s, mask=mask, kind="jsd", vocab_size=V_REAL)
    with pytest.raises(ValueError, match="exceeds the teacher head"):
        chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t[:50], mask=mask,
                        kind="jsd", vocab_size=V_REAL)
    with pytest.raises(ValueError, match="mask"):
        chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t, mask=mask.float(),
                        kind="jsd", vocab_size=V_REAL)
    bad = TopKTargets(torch.full((N, 3), V_REAL), torch.zeros(N, 3), torch.zeros(N))
    with pytest.raises(ValueError, match="beyond vocab_size"):
        chunked_kd_loss(h_s, w_s, teacher_topk=bad, mask=mask, kind="jsd", vocab_size=V_REAL)
