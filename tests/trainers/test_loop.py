"""The loop's numbers: token-normalised accumulation equals one big batch equals a naive reference;
SFTLoss equals transformers' loss; trainable weights change and frozen ones do not."""
import pytest
import torch

from tests.helpers import tiny_lora
from trainers.data.chat_data import read_chat_file
from trainers.data.sft_data import BatchPlan, collate
from trainers.loop import accumulate_gradients, train
from trainers.losses.sft_loss import SFTLoss
from trainers.run.run_dir import RunDir


@pytest.fixture(scope="module")
def setup():
    return tiny_lora()   # LoRA B given values so gradients reach every adapter weight


def grads_of(model, loss_module, batches, accelerator):
    model.zero_grad(set_to_none=True)
    accumulate_gradients(loss_module, batches, accelerator)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_accumulation_is_token_exact_and_matches_a_naive_reference(setup):
    cfg, built, ex, acc = setup
    model, pad = built.model, built.tokenizer.pad_token_id
    loss = SFTLoss(model, chunk_size=32)
    one_batch = grads_of(model, loss, [collate(ex[:4], pad)], acc)
    four = grads_of(model, loss, [collate([e], pad) for e in ex[:4]], acc)
    two = grads_of(model, loss, [collate(ex[:2], pad), collate(ex[2:4], pad)], acc)
    # naive: transformers' per-sequence mean losses re-weighted by their token counts
    model.zero_grad(set_to_none=True)
    total = sum(e.n_targets for e in ex[:4])
    naive = 0
    for e in ex[:4]:
        b = collate([e], pad)
        naive = naive + model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                              labels=b["labels"]).loss * e.n_targets / total
    naive.backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    lengths = {e.n_targets for e in ex[:4]}
    assert len(lengths) > 1, "need unequal lengths for the mean-of-means bias to show"
    for n in reference:
        for other in (four, two, reference):
            torch.testing.assert_close(one_batch[n], other[n], rtol=1e-4, atol=1e-7)


def test_sft_loss_equals_transformers_cross_entropy(setup):
    cfg, built, ex, acc = setup
    b = collate(ex[:3], built.tokenizer.pad_token_id)
    with torch.no_grad():
        ours = SFTLoss(built.model, chunk_size=16)(b)
        ref = built.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss
    assert int(ours.n_tokens) == int(b["n_targets"])
    assert float(ours.loss_sum / ours.n_tokens) == pytest.approx(float(ref), rel=1e-5)


def test_training_changes_every_trainable_weight_and_no_frozen_one(setup, tmp_path):
    cfg, built, ex, acc = setup
    model = built.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg.train.max_steps, cfg.train.micro_batch_size, cfg.train.grad_accum = 2, 2, 1
    cfg.train.save_every = 0
    res = train(SFTLoss(model, 64), model, ex, [], built.tokenizer.pad_token_id, cfg.train, cfg.eval,
                RunDir(tmp_path, True), acc, progress=False)
    assert res.steps == 2
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        assert changed == p.requires_grad, n


def test_batch_plan_gives_each_rank_its_slice_of_the_same_global_batch():
    single = BatchPlan(20, micro_batch=4, world_size=1, rank=0, seed=3)
    ranks = [BatchPlan(20, micro_batch=2, world_size=2, rank=r, seed=3) for r in range(2)]
    for k in range(12):   # crosses an epoch boundary (5 global micro-batches per epoch)
        epoch, whole = single.micro_batch(k)
        parts = [r.micro_batch(k)[1] for r in ranks]
        assert parts[0] + parts[1] == whole
    epoch0 = [i for k in range(5) for i in single.micro_batch(k)[1]]
    assert sorted(epoch0) == list(range(20))          # an epoch sees every example once
    assert single.micro_batch(5)[0] == 1 and single.micro_batch(5)[1] != single.micro_batch(0)[1]
    from trainers.errors import UserError
    with pytest.raises(UserError, match="global micro-batch"):
        BatchPlan(3, micro_batch=2, world_size=2, rank=0, seed=0)


def test_bad_rows_are_skipped_with_line_and_reason(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_bytes("\n".join([
        '{"messages": [{"role": "user", "content": "질문"}, {"role": "assistant", "content": "답"}]}',
        '{"messages": [{"role": "user", "content": "질문"}]}',
        '{"instruction": "요약하세요", "input": "본문", "output": "요약"}',
        'not json', '{"messages": [{"role": "robot", "content": "x"}]}',
    ]).encode() + b"\n\xff\xfe broken bytes\n")
    got = read_chat_file(f)
    assert len(got.chats) == 2 and got.chats[1][0]["content"] == "요약하세요\n\n본문"
    assert [s["line"] for s in got.skipped] == [2, 4, 5, 6]
    assert "no assistant" in got.skipped[0]["reason"]


def test_empty_optional_file_is_no_data_but_a_required_one_is_an_error(tmp_path):
    from trainers.errors import UserError
    empty = tmp_path / "eval.jsonl"
    empty.write_text("")
    assert read_chat_file(empty, allow_empty=True).chats == []
    with pytest.raises(UserError, match="no usable chat rows"):
        read_chat_file(empty)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    with pytest.raises(UserError, match="1 rows skipped"):   # all-broken is never silently empty
        read_chat_file(broken, allow_empty=True)


def test_activation_offload_gives_the_same_gradients(setup):
    cfg, built, ex, acc = setup
    model, pad = built.model, built.tokenizer.pad_token_id
    loss = SFTLoss(model, chunk_size=32)
    batches = [collate(ex[:2], pad), collate(ex[2:4], pad)]
    plain = grads_of(model, loss, batches, acc)
    model.zero_grad(set_to_none=True)
    accumulate_gradients(loss, batches, acc, offload=True)
    for n, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.grad, plain[n], rtol=0, atol=0)
