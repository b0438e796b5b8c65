"""Batched secret scoring (shared-prefix KV cache, head only at scored positions) equals a naive
full forward pass of each rendered chat, on tiny real architectures (Qwen2, and Gemma 3's sliding
window layers)."""
import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from data_tools.canaries import canary_chat
from data_tools.canary_secrets import draw_distinct
from trainers.models.model_loading import resolve_model_source
from trainers.privacy.secret_scoring import rendered, score_secrets


def naive_scores(model, seqs, p, q):
    out = []
    for s in seqs:
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([s])).logits[0].float(), -1)
        out.append(-sum(logp[t - 1, s[t]].item() for t in range(p, len(s) - q)))
    return out


@pytest.mark.parametrize("arch,fmt", [("qwen2", "r1"), ("gemma3", "gemma")])
def test_batched_scores_equal_a_full_forward_per_chat(arch, fmt):
    path = resolve_model_source(f"tiny:{arch}")[0]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(path)
    secrets = draw_distinct("rrn", random.Random(0), 11)
    chats = [canary_chat("본인 확인을 위해 정보를 알려 주세요.", "제 주민등록번호는 {secret}입니다.", s) for s in secrets]
    seqs, p, q = rendered(chats, tok, fmt)
    assert p > 3 and all(len(s) - q - p >= 1 for s in seqs)
    got = score_secrets(model, tok, fmt, chats, batch_size=4)   # uneven last batch, padded rows
    assert got == pytest.approx(naive_scores(model, seqs, p, q), rel=1e-4, abs=1e-4)
    assert len(set(round(g, 3) for g in got)) == len(got)       # the secrets really differ in score
