"""Constrained classification by log-likelihood: score every label as the answer to one prompt.

Rendering. A label is scored exactly where training puts it: the chat [prompt turns, assistant =
label] goes through the one chat renderer (trainers.data.chat_format.tokenize_chat); the tokens it marks
as trained — the label and the end-of-turn marker after it — are the continuation, everything
before them the context. The end-of-turn token is scored too: it makes each label a complete answer,
so a label whose tokens are a prefix of another's (or that shares its first tokens, as 정형외과 and
정신건강의학과 may) is not favoured for being short and unfinished.

Normalisation (`normalise`), over the continuation's log-probability:
* sum  (default): log P(label, end | prompt), the probability the model gives the whole answer. This is
  what a trained model's greedy answer follows, and it needs no assumption about label length.
* mean: sum / continuation tokens; removes the per-token penalty of long labels (lm-eval's
  "acc_norm" idea per token). Labels tokenise to 1–6 tokens, so zero-shot base models can prefer
  short labels under `sum`; `mean` is the usual remedy, at the price of favouring long labels whose
  later tokens are nearly certain.
* char: sum / characters of the label (tokenizer-independent, comparable across models).

Computation. Labels of one prompt share its context, so the context runs once (batch 1, no padding)
and its KV cache is repeated for the labels, which then run as one right-padded batch: 8 labels cost
one prefill plus a few tokens each, not 8 prefills. Right padding never leaks into real tokens under
causal attention, so no mask is needed; positions continue from the context length. Only the
context's last position and the continuation positions get logits (never context × vocabulary).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from trainers.data.chat_format import IGNORE, answer_offset, tokenize_chat
from trainers.evaluation.mcqa import _accepts_logits_to_keep

Normalise = Literal["sum", "mean", "char"]
NO_LIMIT = 1 << 30      # no truncation when rendering an eval prompt: a cut prompt would be a different question


@dataclass
class EncodedPrompt:
    """One item's prompt and its labels as token ids, as the chat renderer produces them."""
    contexts: list[list[int]]        # per label; identical for segment formats (one prefill)
    continuations: list[list[int]]   # per label: label tokens + end-of-turn tokens
    prompt: list[int]                # the generation prompt (the context, for segment formats)
    stop_ids: list[int]              # tokens that end an answer (end-of-turn, eos)
    terminator: str                  # the text the renderer puts after an answer


def encode_prompt(tokenizer, fmt: str, messages: list[dict], labels: Sequence[str]) -> EncodedPrompt:
    contexts, conts, tails = [], [], []
    for label in labels:
        ids, mask = tokenize_chat(messages + [{"role": "assistant", "content": label}], tokenizer, fmt, NO_LIMIT)
        # The answer is the last run of trained tokens (k-shot answers before it are trained too).
        end = max((i for i, m in enumerate(mask) if m != IGNORE), default=None)
        if end is None:
            raise ValueError(f"chat format {fmt}: the answer {label!r} has no trained tokens")
        start = end
        while start > 0 and mask[start - 1] != IGNORE:
            start -= 1
        start += answer_offset(ids[start:end + 1], tokenizer, fmt)   # R1: the empty think block is prompt
        contexts.append(ids[:start])
        conts.append(ids[start:end + 1])
        text = tokenizer.decode(conts[-1], skip_special_tokens=False)
        tails.append(text[len(label):] if text.startswith(label) else "")
    terminator = tails[0] if all(t == tails[0] for t in tails) else ""
    stops = {tokenizer.eos_token_id} | ({c[-1] for c in conts} if terminator else set())
    # The shortest context is the generation prompt: with template formats, a context can absorb
    # a boundary token of its label, the shortest one absorbed least.
    return EncodedPrompt(contexts, conts, min(contexts, key=len), sorted(s for s in stops if s is not None),
                         terminator)


def _groups(contexts: list[list[int]]) -> list[tuple[list[int], list[int]]]:
    """(context, label indices) with each distinct context once, in first-seen order."""
    seen: dict[tuple, list[int]] = {}
    for j, ctx in enumerate(contexts):
        seen.setdefault(tuple(ctx), []).append(j)
    return [(list(k), v) for k, v in seen.items()]


@torch.no_grad()
def score_continuations(model, context: list[int], continuations: Sequence[list[int]],
                        batch_size: int = 8) -> list[float]:
    """Summed log-probability of each continuation after `context` (one prefill, cache repeated)."""
    if not context or any(not c for c in continuations):
        raise ValueError("context and every continuation need at least one token")
    device = next(model.parameters()).device
    keep = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    pre = model(input_ids=torch.tensor([context], device=device), use_cache=True, **keep)
    first = torch.log_softmax(pre.logits[0, -1].float(), dim=-1)   # predicts every first label token
    cache = pre.cache
    scores = [float(first[c[0]]) for c in continuations]
    rest = [j for j, c in enumerate(continuations) if len(c) > 1]   # single-token labels are done
    for b in range(0, len(rest), batch_size):
        rows = rest[b:b + batch_size]
        width = max(len(continuations[j]) for j in rows) - 1
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        for r, j in enumerate(rows):
            c = continuations[j][:-1]               # the last token is predicted, never fed
            ids[r, :len(c)] = torch.tensor(c)       # right padding (token 0): causal, never seen
        batch_cache = copy.deepcopy(cache)          # the forward appends to the cache in place
        batch_cache.batch_repeat_interleave(len(rows))
        positions = torch.arange(len(context), len(context) + width).expand(len(rows), -1)
        out = model(input_ids=ids.to(device), cache=batch_cache, use_cache=True,
                    position_ids=positions.to(device))
        logprobs = torch.log_softmax(out.logits.float(), dim=-1)
        for r, j in enumerate(rows):
            target = torch.tensor(continuations[j][1:], device=device)
            steps = torch.arange(len(target), device=device)
            scores[j] += float(logprobs[r, steps, target].sum())
    return scores


def score_labels(model, encoded: EncodedPrompt, batch_size: int = 8) -> list[float]:
    """Summed log-probability of every label (+ end-of-turn) of one encoded prompt, in label order."""
    scores = [0.0] * len(encoded.continuations)
    for ctx, idx in _groups(encoded.contexts):
        for j, s in zip(idx, score_continuations(model, ctx, [encoded.continuations[j] for j in idx],
                                                 batch_size)):
            scores[j] = s
    return scores


def normalise_scores(sums: Sequence[float], continuations: Sequence[Sequence[int]], labels: Sequence[str],
                     how: Normalise = "sum") -> list[float]:
    """Per-label scores compared by argmax (module docstring says why each one exists)."""
    if how == "sum":
        return list(sums)
    if how == "mean":
        return [s / len(c) for s, c in zip(sums, continuations)]
    if how == "char":
        return [s / len(label) for s, label in zip(sums, labels)]
    raise ValueError(f"normalise must be sum, mean or char, got {how!r}")


def argmax(scores: Sequence[float]) -> int:
    """Index of the best score; the first label wins a tie (deterministic)."""
    return max(range(len(scores)), key=lambda j: (scores[j], -j))
