"""Chunked output-head cross-entropy against F.cross_entropy on full logits: values, gradients, memory.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/losses/test_chunked_ce.py -q
"""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from trainers.losses.chunked_ce import linear_cross_entropy

N, H, V = 45, 16, 97     # 45 tokens: most chunk sizes below do not divide it
IGNORE = -100


def make(seed=0, dtype=torch.float32, ignore_share=0.3, bias=True, n=N, v=V, h=H):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(3, n // 3, h, generator=g).to(dtype).requires_grad_()
    weight = (0.5 * torch.randn(v, h, generator=g)).to(dtype).requires_grad_()
    b = (0.1 * torch.randn(v, generator=g)).to(dtype).requires_grad_() if bias else None
    labels = torch.randint(0, v, (3, n // 3), generator=g)
    labels[torch.rand(labels.shape, generator=g) < ignore_share] = IGNORE
    return hidden, weight, b, labels


def reference(hidden, weight, bias, labels):
    """What everyone writes: full logits, fp32 upcast, summed cross-entropy."""
    logits = F.linear(hidden, weight, bias).float()
    return F.cross_entropy(logits.reshape(-1, weight.shape[0]), labels.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")


def grads(loss, tensors):
    return torch.autograd.grad(loss, [t for t in tensors if t is not None])


def assert_close_rel(a, b, rel):
    scale = b.abs().max().clamp_min(1e-12)
    assert (a.float() - b.float()).abs().max() <= rel * scale, (a, b)


@pytest.mark.parametrize("chunk", [1, 7, 16, 45, 1000])
def test_values_and_grads_match_full_logits_fp32(chunk):
    hidden, weight, bias, labels = make()
    loss, count = linear_cross_entropy(hidden, weight, labels, bias=bias, chunk_size=chunk,
                                       ignore_index=IGNORE)
    ref = reference(hidden, weight, bias, labels)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert count.dtype == torch.int64 and int(count) == int((labels != IGNORE).sum())
    assert_close_rel(loss, ref, 1e-5)
    # A non-unit upstream gradient (as from dividing by the accumulated token count) must scale.
    for got, want in zip(grads(loss * 0.37, (hidden, weight, bias)),
                         grads(ref * 0.37, (hidden, weight, bias))):
        assert got.shape == want.shape
        assert_close_rel(got, want, 1e-5)


def test_no_bias_and_tied_head_grad_accumulates_both_uses():
    # Tied embeddings: the head weight is also the embedding table; autograd must add both grads.
    hidden, weight, _, labels = make(bias=False)
    ids = torch.randint(0, V, (3, N // 3))

    def total(loss_fn):
        h = hidden + F.embedding(ids, weight)[..., :H]
        return loss_fn(h)

    ours = total(lambda h: linear_cross_entropy(h, weight, labels, chunk_size=8)[0])
    ref = total(lambda h: reference(h, weight, None, labels))
    assert_close_rel(ours, ref, 1e-5)
    for got, want in zip(grads(ours, (hidden, weight)), grads(ref, (hidden, weight))):
        assert_close_rel(got, want, 1e-5)


def test_bf16_inputs_close_to_bf16_reference():
    hidden, weight, bias, labels = make(dtype=torch.bfloat16)
    loss, _ = linear_cross_entropy(hidden, weight, labels, bias=bias, chunk_size=10)
    ref = reference(hidden, weight, bias, labels)   # bf16 logits upcast to fp32, as HF does
    assert loss.dtype == torch.float32
    assert_close_rel(loss, ref, 1e-3)
    got = grads(loss, (hidden, weight, bias))
    want = grads(ref, (hidden, weight, bias))
    for g, w in zip(got, want):
        assert g.dtype == torch.bfloat16
        assert_close_rel(g, w, 2e-2)   # bf16 has ~3 significant digits; sums differ in order


def test_bf16_loss_close_to_fp32_truth():
    h32, w32, b32, labels = make()
    loss16, _ = linear_cross_entropy(h32.bfloat16(), w32.bfloat16(), labels, bias=b32.bfloat16(),
                                     chunk_size=16)
    assert_close_rel(loss16, reference(h32, w32, b32, labels), 1e-2)


def test_all_ignored_gives_zero_loss_and_zero_grads():
    hidden, weight, bias, labels = make()
    labels = torch.full_like(labels, IGNORE)
    loss, count = linear_cross_entropy(hidden, weight, labels, bias=bias, chunk_size=4)
    assert float(loss.detach()) == 0.0 and int(count) == 0
    for g in grads(loss, (hidden, weight, bias)):
        assert torch.isfinite(g).all() and not g.any()


def test_frozen_weight_gets_no_grad_and_hidden_grad_still_right():
    hidden, weight, bias, labels = make()
    weight = weight.detach()                 # frozen lm_head, as in LoRA/QLoRA
    bias = bias.detach()
    loss, _ = linear_cross_entropy(hidden, weight, labels, bias=bias, chunk_size=9)
    loss.backward()
    assert weight.grad is None and bias.grad is None
    (want,) = grads(reference(hidden, weight, bias, labels), (hidden,))
    assert_close_rel(hidden.grad, want, 1e-5)


def test_no_grad_mode_returns_value_without_graph():
    hidden, weight, bias, labels = make()
    with torch.no_grad():
        loss, _ = linear_cross_entropy(hidden, weight, labels, bias=bias, chunk_size=5)
    assert loss.grad_fn is None
    assert_close_rel(loss, reference(hidden, weight, bias, labels).detach(), 1e-5)


def test_bad_shapes_and_labels_raise():
    hidden, weight, bias, labels = make()
    with pytest.raises(ValueError, match="disagree"):
        linear_cross_entropy(hidden, weight, labels[:, :-1])
    with pytest.raises(ValueError, match="weight must be"):
        linear_cross_entropy(hidden, weight[:, :-1], labels)
    bad = labels.clone()
    bad[0, 0] = V
    with pytest.raises(ValueError, match="labels must be in"):
        linear_cross_entropy(hidden, weight, bad)


def test_liger_backend_refused_without_cuda():
    hidden, weight, _, labels = make()
    with pytest.raises(RuntimeError, match="liger"):
        linear_cross_entropy(hidden, weight, labels, backend="liger")


# --- memory ---------------------------------------------------------------------------------
def peak_cpu_alloc(fn, tmp_path) -> tuple[int, int]:
    """(peak live bytes, largest single allocation) made by the CPU allocator while fn runs,
    read from the profiler's per-allocation records (each carries its signed byte count)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    trace = tmp_path / "trace.json"
    prof.export_chrome_trace(str(trace))
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e.get("name") == "[memory]"]
    events.sort(key=lambda e: (e["ts"], e["args"].get("Ev Idx", 0)))
    live = peak = biggest = 0
    for e in events:
        nbytes = e["args"]["Bytes"]
        live += nbytes
        peak = max(peak, live)
        biggest = max(biggest, nbytes)
    return peak, biggest


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n_tokens", [1024, 4096])
def test_memory_bounded_by_chunk_not_by_tokens(n_tokens, dtype, tmp_path):
    torch.manual_seed(0)
    v, h, chunk = 8192, 32, 64
    hidden = torch.randn(n_tokens, h, dtype=dtype, requires_grad=True)
    weight = (torch.randn(v, h) * 0.1).to(dtype)     # frozen head: the LoRA case
    labels = torch.randint(0, v, (n_tokens,))

    def step():
        loss, _ = linear_cross_entropy(hidden, weight, labels, chunk_size=chunk)
        loss.backward()

    peak, biggest = peak_cpu_alloc(step, tmp_path)
    d = hidden.element_size()
    chunk_logits = chunk * v * 4                  # one fp32 [chunk, vocab] buffer: 2 MiB
    full_logits = n_tokens * v * 4                # what F.cross_entropy would need: 32-128 MiB
    per_token = n_tokens * h * 4                  # hidden-sized buffers (its gradient, a copy)
    assert biggest <= chunk_logits
    # The fp32 chunk plus, for 16-bit heads, its head-dtype logits / gradient (d + 4 bytes per
    # logit, what trainers.compute.plan_memory assumes), plus hidden-sized buffers; nothing [tokens, vocab].
    assert peak <= 1.1 * chunk * v * (4 + (d if d < 4 else 0)) + 4 * per_token, (peak, chunk_logits)
    assert peak < full_logits / 4


def test_reference_path_really_allocates_full_logits(tmp_path):
    # Sanity check of the measuring tool: the naive path is seen allocating [tokens, vocab].
    n, v, h = 1024, 8192, 32
    hidden = torch.randn(n, h, requires_grad=True)
    weight = torch.randn(v, h) * 0.1
    labels = torch.randint(0, v, (n,))
    peak, biggest = peak_cpu_alloc(lambda: reference(hidden, weight, None, labels).backward(), tmp_path)
    assert biggest >= n * v * 4 and peak >= 2 * n * v * 4
