"""Classification by generated exact match: greedy answer, cut at the end of the turn, compared to labels.

The prompt is the one the log-likelihood scorer and training use (label_scoring.encode_prompt), so
the two scorings differ only in whether the model may answer outside the label set. Decoding is
greedy with a KV cache, one prompt at a time (no padding, nothing that could differ from the
model's own next-token choice), and stops at an end-of-turn/eos token, at a newline, or after
`max_new_tokens`. The answer is the text before the renderer's end-of-turn marker or the first
newline, NFC-normalised with whitespace runs collapsed; it counts only if it equals a label exactly.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Sequence

import torch

from trainers.evaluation.label_scoring import EncodedPrompt
from trainers.evaluation.mcqa import _accepts_logits_to_keep


@dataclass
class Answer:
    text: str              # normalised answer
    label: int | None      # index of the label it equals, None if it is not a label
    new_tokens: int        # tokens generated (the stop token included)


def normalise_answer(text: str, terminator: str = "", specials: Sequence[str] = ()) -> str:
    """Text up to the end-of-turn marker or the first newline, specials removed, whitespace collapsed."""
    for stop in (terminator.strip(), *specials):
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    text = text.strip().split("\n", 1)[0] if text.strip() else ""
    return " ".join(unicodedata.normalize("NFC", text).split())


def match_label(answer: str, labels: Sequence[str]) -> int | None:
    norm = [" ".join(unicodedata.normalize("NFC", lab).split()) for lab in labels]
    return norm.index(answer) if answer in norm else None


@torch.no_grad()
def greedy_tokens(model, prompt: list[int], stop_ids: Sequence[int], max_new_tokens: int,
                  newline_stops=None) -> list[int]:
    """Greedy continuation of `prompt` with a KV cache; ends with a stop token if one came.
    `newline_stops(tokens) -> bool` lets the caller end at a newline (decoded text is tokenizer-specific)."""
    device = next(model.parameters()).device
    keep = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, **keep)
    new: list[int] = []
    while True:
        token = int(out.logits[0, -1].float().argmax())
        new.append(token)
        if token in stop_ids or len(new) >= max_new_tokens or (newline_stops and newline_stops(new)):
            return new
        out = model(input_ids=torch.tensor([[token]], device=device), cache=out.cache, use_cache=True,
                    position_ids=torch.tensor([[len(prompt) + len(new) - 1]], device=device))


def generate_label(model, tokenizer, encoded: EncodedPrompt, labels: Sequence[str],
                   max_new_tokens: int) -> Answer:
    specials = [t for t in (tokenizer.eos_token, tokenizer.pad_token) if t]

    def at_newline(tokens: list[int]) -> bool:    # a leading newline is skipped, as normalise_answer does
        return "\n" in tokenizer.decode(tokens, skip_special_tokens=False).lstrip()

    new = greedy_tokens(model, encoded.prompt, encoded.stop_ids, max_new_tokens, at_newline)
    text = normalise_answer(tokenizer.decode(new, skip_special_tokens=False), encoded.terminator, specials)
    return Answer(text, match_label(text, labels), len(new))


def default_max_new_tokens(encoded: EncodedPrompt) -> int:
    """Room for the longest label and its end-of-turn marker, plus a little slack for a stray space."""
    return max(len(c) for c in encoded.continuations) + 2
