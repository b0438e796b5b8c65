"""Validation loss is a mean over tokens, not over batches: with batches of unequal target counts it
equals transformers' per-sequence losses weighted by their target tokens (a naive reference), and
differs measurably from the mean of per-batch means."""
import pytest
import torch

from tests.helpers import tiny_lora
from trainers.data.sft_data import collate
from trainers.loop import evaluate
from trainers.losses.sft_loss import SFTLoss


def test_eval_loss_is_token_weighted(tmp_path):
    cfg, built, ex, acc = tiny_lora(n_chats=16, max_len=512)
    model, pad = built.model, built.tokenizer.pad_token_id
    by_len = sorted(ex, key=lambda e: e.n_targets)
    ex = by_len[:2] + by_len[7:9] + by_len[-2:]      # batches of 2: short, middle, long
    # a random model's loss is about ln(vocab) everywhere; let it memorise the short pair so that
    # batches differ in loss as well as in length (else any average gives the same number)
    for p in model.parameters():     # every weight: a frozen random base barely moves under LoRA
        p.requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    short = collate(ex[:2], pad)
    for _ in range(30):
        opt.zero_grad()
        model(**{k: short[k] for k in ("input_ids", "attention_mask", "labels")}).loss.backward()
        opt.step()
    model.eval()
    batches = [ex[i:i + 2] for i in range(0, 6, 2)]
    counts = [sum(e.n_targets for e in b) for b in batches]
    assert max(counts) > 1.5 * min(counts), counts

    got = evaluate(SFTLoss(model, 32), ex, micro_batch=2, pad_id=pad, accelerator=acc, max_batches=50)

    with torch.no_grad():   # naive: each sequence's mean loss from transformers, times its targets
        per_seq = [(float(model(**{k: collate([e], pad)[k] for k in ("input_ids", "attention_mask", "labels")}).loss),
                    e.n_targets) for e in ex]
    reference = sum(loss * n for loss, n in per_seq) / sum(n for _, n in per_seq)
    batch_means = [sum(loss * n for loss, n in per_seq[i:i + 2]) / sum(n for _, n in per_seq[i:i + 2])
                   for i in range(0, 6, 2)]
    mean_of_means = sum(batch_means) / len(batch_means)
    assert abs(mean_of_means - reference) > 0.05 * reference, "batches too alike to tell the two averages apart"
    assert got == pytest.approx(reference, rel=1e-5)
