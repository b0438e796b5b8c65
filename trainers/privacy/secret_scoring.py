"""Log-perplexity of many secrets in one shared context, batched and quick on CPU.

Each secret is rendered in the chat it would be trained as (the run's own chat format), so the
model is asked exactly what training showed it. All renderings share a token prefix (the prompt,
the assistant header, the template's words before the secret) and a token suffix (the words after
it, the end-of-turn marker); what differs between them is scored and nothing else:

    score(secret) = -sum log p(token_t | tokens_<t)  over the tokens between the shared prefix and
                                                      the shared suffix (nats)

The shared part adds the same amount to every candidate, so leaving it out changes no rank.

Cost: the prefix runs through the model once and its KV cache is copied to each batch
(label_scoring.score_continuations, the scorer classification labels use); then only the differing
tokens run, about 10-15 per secret.
"""
from __future__ import annotations

from trainers.data.chat_format import tokenize_chat
from trainers.evaluation.label_scoring import score_continuations

_NO_TRUNCATION = 1 << 30


def _shared_lengths(seqs: list[list[int]]) -> tuple[int, int]:
    """(tokens every sequence starts with, tokens every sequence ends with, not overlapping the prefix)."""
    shortest = min(len(s) for s in seqs)
    p = 0
    while p < shortest and all(s[p] == seqs[0][p] for s in seqs):
        p += 1
    q = 0
    while q < shortest - p and all(s[-1 - q] == seqs[0][-1 - q] for s in seqs):
        q += 1
    return p, q


def rendered(chats: list[list[dict]], tokenizer, fmt: str) -> tuple[list[list[int]], int, int]:
    """Token ids of each chat as training renders it, and the shared prefix / suffix lengths."""
    seqs = [tokenize_chat(chat, tokenizer, fmt, _NO_TRUNCATION)[0] for chat in chats]
    p, q = _shared_lengths(seqs)
    if p == 0:
        raise ValueError("the chats share no token prefix; a secret is scored given its context")
    return seqs, p, q


def score_secrets(model, tokenizer, fmt: str, chats: list[list[dict]], batch_size: int = 16) -> list[float]:
    """Log-perplexity (nats) of the part where each chat differs from the others, in chat order."""
    seqs, p, q = rendered(chats, tokenizer, fmt)
    was_training = model.training
    model.eval()
    try:
        logp = score_continuations(model, seqs[0][:p], [s[p:len(s) - q] for s in seqs], batch_size)
    finally:
        model.train(was_training)
    return [-x for x in logp]
