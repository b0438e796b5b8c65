"""Multiple choice by log-likelihood: KMMLU / KorMedMCQA prompts and batched option scoring.

A prompt (lm-evaluation-harness's KMMLU layout) is the question, one `A. option` line per choice,
and `정답：` with a full-width colon; k-shot prompts put k solved dev items first, each ending
`정답： A`, separated by blank lines. An option is scored by the summed log-probability of its
continuation after the prompt: " A" (target="letter") or " " + option text (target="text"; sums
favour short options — compare letter targets across models).
"""
from __future__ import annotations

import inspect
import random
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import torch

Target = Literal["letter", "text"]
ANSWER_CUE = "정답："   # full-width colon, as in KMMLU's published prompt
DELIM = " "            # between the cue and the answer


@dataclass(frozen=True)
class Layout:
    letters: str          # option columns, in order
    category_key: str     # column naming the subject


LAYOUTS = {
    "kmmlu": Layout("ABCD", "Category"),          # question, answer (1-4), A-D, Category
    "kormedmcqa": Layout("ABCDE", "subject"),     # question, A-E, answer (1-5), subject
}


def _layout(layout: str | Layout) -> Layout:
    if isinstance(layout, Layout):
        return layout
    if layout not in LAYOUTS:
        raise ValueError(f"unknown MCQA layout {layout!r}; known: {sorted(LAYOUTS)}")
    return LAYOUTS[layout]


def question_block(row: Mapping, layout: str | Layout) -> str:
    lay = _layout(layout)
    missing = [c for c in ("question", *lay.letters) if c not in row]
    if missing:
        raise ValueError(f"MCQA row lacks column(s) {missing}: {str(dict(row))[:120]}")
    lines = [str(row["question"]).strip()]
    lines += [f"{letter}. {str(row[letter]).strip()}" for letter in lay.letters]
    return "\n".join(lines) + "\n" + ANSWER_CUE


def select_shots(row: Mapping, dev_pool: Sequence[Mapping], k: int, layout: str | Layout,
                 seed: int | None = None) -> list[Mapping]:
    """k dev items, same category first (pool order, or shuffled by `seed`), then others to fill.

    The item itself is never its own shot, in case the dev pool overlaps the test split.
    """
    key = _layout(layout).category_key
    pool = [d for d in dev_pool if d.get("question") != row.get("question")]
    if seed is not None:
        pool = random.Random(seed).sample(pool, len(pool))
    same = [d for d in pool if d.get(key) == row.get(key)]
    other = [d for d in pool if d.get(key) != row.get(key)]
    return (same + other)[:k]


def build_prompt(row: Mapping, layout: str | Layout = "kmmlu", shots: Sequence[Mapping] = ()) -> str:
    lay = _layout(layout)
    solved = [question_block(s, lay) + DELIM + lay.letters[int(s["answer"]) - 1] for s in shots]
    return "\n\n".join(solved + [question_block(row, lay)])


def build_prompts(rows: Sequence[Mapping], layout: str | Layout = "kmmlu", k_shot: int = 0,
                  dev_pool: Sequence[Mapping] = (), seed: int | None = None) -> list[str]:
    if k_shot and not dev_pool:
        raise ValueError(f"k_shot={k_shot} needs a dev_pool of solved items")
    return [build_prompt(r, layout, select_shots(r, dev_pool, k_shot, layout, seed) if k_shot else ())
            for r in rows]


def continuations(row: Mapping, layout: str | Layout = "kmmlu", target: Target = "letter") -> list[str]:
    lay = _layout(layout)
    if target == "letter":
        return [DELIM + letter for letter in lay.letters]
    if target == "text":
        return [DELIM + str(row[letter]).strip() for letter in lay.letters]
    raise ValueError(f"target must be 'letter' or 'text', got {target!r}")


def encode_pair(tokenizer, prompt: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) with the continuation tokenised as part of the whole text.

    Tokenising prompt + continuation together is what the model sees when it writes the answer;
    where a token straddles the boundary, it goes to the continuation. A BOS is prepended when
    the tokenizer adds one on its own (Llama), not otherwise (Qwen).
    """
    bos = tokenizer("", add_special_tokens=True)["input_ids"]
    whole = tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    n = 0
    while n < min(len(ctx), len(whole)) and ctx[n] == whole[n]:
        n += 1
    if n == len(whole):
        raise ValueError(f"continuation {continuation!r} adds no tokens to the prompt")
    return list(bos) + whole[:n], whole[n:]


def _accepts_logits_to_keep(model) -> bool:
    # A PeftModel's forward takes **kwargs and passes them on: ask the model underneath.
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


@torch.no_grad()
def score_choices(model, tokenizer, prompts: Sequence[str], choices_per_prompt: Sequence[Sequence[str]],
                  batch_size: int = 8, padding_side: Literal["left", "right"] | None = None
                  ) -> list[list[float]]:
    """Summed log-likelihood of each choice continuation given its prompt, computed in batches.

    Sequences are padded (`padding_side`, default the tokenizer's) with an attention mask and
    explicit position ids counted over real tokens, so left padding gives the same scores as no
    padding. Logits are computed only for the span of positions that predict continuation tokens,
    never for the whole batch × sequence × vocabulary.
    """
    if len(prompts) != len(choices_per_prompt):
        raise ValueError(f"{len(prompts)} prompts but {len(choices_per_prompt)} choice lists")
    side = padding_side or getattr(tokenizer, "padding_side", "right")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ValueError("tokenizer has neither a pad nor an eos token to pad batches with")
    pairs = [(i, j, *encode_pair(tokenizer, p, c))
             for i, (p, cs) in enumerate(zip(prompts, choices_per_prompt)) for j, c in enumerate(cs)]
    # Longest first, so each batch pads little; results go back to (prompt, choice) order.
    order = sorted(range(len(pairs)), key=lambda q: -(len(pairs[q][2]) + len(pairs[q][3])))
    scores: list[list[float]] = [[0.0] * len(cs) for cs in choices_per_prompt]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    keep_arg = _accepts_logits_to_keep(model)
    try:
        for b in range(0, len(order), batch_size):
            batch = [pairs[q] for q in order[b:b + batch_size]]
            seqs = [ctx + cont for _, _, ctx, cont in batch]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            offsets = []
            for r, s in enumerate(seqs):
                off = width - len(s) if side == "left" else 0
                ids[r, off:off + len(s)] = torch.tensor(s)
                mask[r, off:off + len(s)] = 1
                offsets.append(off)
            # Positions counted over real tokens: RoPE is shift-invariant, but a model with
            # absolute positions would score a left-padded row differently without them.
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            # Position p predicts token p+1: continuation tokens at [a, e) need logits at [a-1, e-1).
            starts = [off + len(ctx) - 1 for off, (_, _, ctx, _) in zip(offsets, batch)]
            ends = [off + len(s) - 1 for off, s in zip(offsets, seqs)]
            lo, hi = min(starts), max(ends)
            kwargs = {"logits_to_keep": torch.arange(lo, hi, device=device)} if keep_arg else {}
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                        position_ids=positions.to(device), use_cache=False, **kwargs)
            logits = out.logits if keep_arg else out.logits[:, lo:hi]
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for r, (i, j, ctx, cont) in enumerate(batch):
                rows = torch.arange(starts[r] - lo, starts[r] - lo + len(cont), device=device)
                tok = torch.tensor(cont, device=device)
                scores[i][j] = float(logprobs[r, rows, tok].sum())
    finally:
        model.train(was_training)
    return scores


def predictions(scores: Sequence[Sequence[float]]) -> list[int]:
    """1-based index of the highest-scoring option (the first one on a tie)."""
    return [max(range(len(s)), key=lambda j: (s[j], -j)) + 1 for s in scores]
