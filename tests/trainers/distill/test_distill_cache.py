"""Top-k teacher cache: round trip, tail mass, distillation from the cache vs a live teacher, resume.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/distill/test_distill_cache.py -q
"""
from __future__ import annotations

import json

import pytest
import torch

from trainers.distill.distill_cache import INDEX_NAME, TopKCacheReader, TopKCacheWriter, compute_topk
from trainers.errors import UserError
from trainers.losses.kd import chunked_kd_loss
from trainers.losses.kd_topk import TopKTargets

V_REAL, V_ROWS, H_S, H_T, K = 53, 64, 12, 20, 8
META = {"teacher": "tiny/teacher", "vocab_size": V_REAL, "temperature": 2.0}
LENGTHS = [7, 3, 11, 5, 9]  # tokens per example


def teacher_and_student(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = sum(LENGTHS)
    h_t, w_t = torch.randn(n, H_T, generator=g), 0.4 * torch.randn(V_ROWS + 8, H_T, generator=g)
    h_s, w_s = torch.randn(n, H_S, generator=g), 0.4 * torch.randn(V_ROWS, H_S, generator=g)
    return h_t, w_t, h_s.requires_grad_(), w_s.requires_grad_()


def per_example(tensor: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.split(tensor, LENGTHS))


def write_cache(path, h_t, w_t, *, dtype="float16", shard_size_tokens=12, ids=None):
    with TopKCacheWriter(path, K, shard_size_tokens, META, dtype=dtype) as writer:
        for ex_id, h in enumerate(per_example(h_t)):
            if ids is None or ex_id in ids:
                writer.add_targets(ex_id, compute_topk(h @ w_t.T, K, V_REAL, temperature=2.0))
    return writer


def test_round_trip_is_exact_up_to_storage_dtype(tmp_path):
    g = torch.Generator().manual_seed(1)
    data = [(torch.randint(0, V_REAL, (t, K), generator=g), -5 * torch.rand(t, K, generator=g),
             -3 * torch.rand(t, generator=g)) for t in LENGTHS]
    for dtype, torch_dtype in [("float16", torch.float16), ("bfloat16", torch.bfloat16)]:
        out = tmp_path / dtype
        with TopKCacheWriter(out, K, shard_size_tokens=10, meta=META, dtype=dtype) as writer:
            for ex_id, (ix, lp, tail) in enumerate(data):
                assert writer.add(100 + ex_id, ix, lp, tail)
        assert len(list(out.glob("shard-*.safetensors"))) == 3  # 7+3 | 11 | 5+9
        reader = TopKCacheReader(out)
        assert len(reader) == len(LENGTHS) and reader.k == K and reader.temperature == 2.0
        assert list(reader.ids()) == [100 + i for i in range(len(LENGTHS))]
        for ex_id, (ix, lp, tail) in enumerate(data):
            got = reader.get(100 + ex_id)
            assert got.indices.dtype == torch.int32 and torch.equal(got.indices.long(), ix)
            assert torch.equal(got.logprobs, lp.to(torch_dtype).float())
            assert torch.equal(got.tail_logprob, tail.to(torch_dtype).float())
            assert got.temperature == 2.0
        index = json.loads((out / INDEX_NAME).read_text())
        assert index["dtype"] == dtype and index["k"] == K and index["meta"] == META
        assert index["num_tokens"] == sum(LENGTHS)
        assert index["examples"]["102"] == {"shard": "shard-00001.safetensors", "offset": 0,
                                            "length": 11}
        with pytest.raises(KeyError, match="example 7 is not in"):
            reader.get(7)


def test_tail_mass_matches_full_softmax():
    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(40, V_ROWS, generator=g)
    logits[:, V_REAL:] = 100.0  # padding columns must not enter the softmax
    logits[0, 5] = 60.0         # a nearly one-hot row: tail ~ e^-36, below fp32 (and fp64) 1 - sum(top-k)
    t = compute_topk(logits, K, V_REAL, temperature=1.5, chunk_size=7)
    p = torch.softmax(logits[:, :V_REAL].double() / 1.5, dim=-1)
    top_p, top_ix = p.topk(K, dim=-1)
    assert torch.equal(t.indices, top_ix) and int(t.indices.max()) < V_REAL
    assert (t.logprobs.double() - top_p.log()).abs().max() < 1e-5
    tail_ref = (1 - top_p.sum(-1)).clamp_min(0)
    assert (t.tail_logprob.double().exp() - tail_ref).abs().max() < 1e-6
    # relative accuracy of the tail even where it is tiny (reference: logsumexp of the rest, fp64)
    rest = p.log().scatter(-1, top_ix, float("-inf")).logsumexp(-1)
    assert rest[0] < -30 and (t.tail_logprob.double() - rest).abs().max() < 1e-4


@pytest.mark.parametrize("dtype,tol", [("float16", 1e-3), ("bfloat16", 1e-2)])
@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl", "jsd"])
def test_distill_from_cache_equals_live_teacher_restricted_to_topk(tmp_path, dtype, tol, kind):
    h_t, w_t, h_s, w_s = teacher_and_student()
    write_cache(tmp_path, h_t, w_t, dtype=dtype)
    reader = TopKCacheReader(tmp_path)
    parts = [reader.get(i) for i in range(len(LENGTHS))]   # the collator's job in the recipe
    targets = TopKTargets(torch.cat([p.indices for p in parts]), torch.cat([p.logprobs for p in parts]),
                          torch.cat([p.tail_logprob for p in parts]), reader.temperature)
    mask = torch.rand(h_s.shape[0], generator=torch.Generator().manual_seed(5)) < 0.7
    common = dict(mask=mask, kind=kind, beta=0.4, temperature=2.0, vocab_size=V_REAL, chunk_size=6)

    live, n = chunked_kd_loss(h_s, w_s, teacher_hidden=h_t, teacher_head_weight=w_t,
                              restrict_topk=K, **common)
    live_grads = torch.autograd.grad(live, (h_s, w_s))
    cached, n_cached = chunked_kd_loss(h_s, w_s, teacher_topk=targets, **common)
    cached_grads = torch.autograd.grad(cached, (h_s, w_s))

    assert n == n_cached == int(mask.sum())
    per_token = (live / n).item()
    assert per_token > 0.05
    # storage rounding of the teacher log-probs is the only difference
    assert abs(cached.item() - live.item()) / n.item() < tol * max(1.0, per_token)
    for a, b in zip(live_grads, cached_grads):
        assert (a - b).abs().max() < tol


def test_resume_skips_examples_in_complete_shards(tmp_path):
    h_t, w_t, _, _ = teacher_and_student()
    examples = per_example(h_t)
    # First run "killed" after example 3: shard 0 holds 0 and 1 (7 + 3 >= 10), shard 1 holds 2;
    # example 3 was only buffered and a half-written file is left behind.
    writer = TopKCacheWriter(tmp_path, K, 10, META)
    for ex_id in range(4):
        writer.add_targets(ex_id, compute_topk(examples[ex_id] @ w_t.T, K, V_REAL, temperature=2.0))
    (tmp_path / "shard-00002.safetensors.tmp").write_bytes(b"partial")
    del writer
    assert not (tmp_path / INDEX_NAME).exists()
    with pytest.raises(UserError, match=f"no complete top-k teacher cache in {tmp_path}"):
        TopKCacheReader(tmp_path)

    resumed = TopKCacheWriter(tmp_path, K, 10, META)
    assert [i in resumed for i in range(5)] == [True, True, True, False, False]
    assert not list(tmp_path.glob("*.tmp"))
    added = [resumed.add_targets(i, compute_topk(examples[i] @ w_t.T, K, V_REAL, temperature=2.0))
             for i in range(5)]
    assert added == [False, False, False, True, True]
    resumed.close()

    reader = TopKCacheReader(tmp_path)
    fresh = write_cache(tmp_path / "fresh", h_t, w_t, shard_size_tokens=10)
    fresh_reader = TopKCacheReader(fresh.dir)
    assert len(reader) == 5
    for i in range(5):
        a, b = reader.get(i), fresh_reader.get(i)
        assert torch.equal(a.indices, b.indices) and torch.equal(a.logprobs, b.logprobs)


def test_index_is_written_last_and_removed_when_new_data_arrives(tmp_path):
    h_t, w_t, _, _ = teacher_and_student()
    with pytest.raises(RuntimeError):
        with TopKCacheWriter(tmp_path, K, 10, META) as writer:
            writer.add_targets(0, compute_topk(per_example(h_t)[0] @ w_t.T, K, V_REAL,
                                               temperature=2.0))
            raise RuntimeError("teacher crashed")
    assert not (tmp_path / INDEX_NAME).exists()      # an error inside `with` is not completion
    assert len(list(tmp_path.glob("shard-*.safetensors"))) == 1  # but finished work is kept

    write_cache(tmp_path, h_t, w_t, ids={0, 1})       # complete cache of examples 0 and 1
    assert len(TopKCacheReader(tmp_path)) == 2
    writer = TopKCacheWriter(tmp_path, K, 1, META)    # reopened; shard size 1 flushes at once
    writer.add_targets(4, compute_topk(per_example(h_t)[4] @ w_t.T, K, V_REAL, temperature=2.0))
    assert not (tmp_path / INDEX_NAME).exists()       # the old index no longer describes the dir
    writer.close()
    assert len(TopKCacheReader(tmp_path)) == 3


def test_reopening_with_other_settings_is_a_user_error(tmp_path):
    h_t, w_t, _, _ = teacher_and_student()
    write_cache(tmp_path, h_t, w_t)
    with pytest.raises(UserError, match="other settings"):
        TopKCacheWriter(tmp_path, K, 10, {**META, "temperature": 1.0})
    with pytest.raises(UserError, match="other settings"):
        TopKCacheWriter(tmp_path, K, 10, META, dtype="bfloat16")


def test_bad_inputs_fail_fast(tmp_path):
    with pytest.raises(ValueError, match="lacks temperature"):
        TopKCacheWriter(tmp_path, K, 10, {"teacher": "t", "vocab_size": 5})
    writer = TopKCacheWriter(tmp_path, K, 10, META)
    with pytest.raises(ValueError, match=r"expected indices/logprobs \[T, 8\]"):
        writer.add(0, torch.zeros(3, K - 1, dtype=torch.long), torch.zeros(3, K - 1), torch.zeros(3))
    with pytest.raises(ValueError, match="temperature"):
        writer.add_targets(0, compute_topk(torch.randn(3, V_REAL), K, V_REAL, temperature=1.0))
