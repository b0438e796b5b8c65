"""The one batched generation function: prompt token ids in, completions out (evaluation, traces).

Prompts come from trainers.data.chat_format.generation_prompt and stop at that format's one set of stop
tokens (chat_format.stop_tokens), so every caller asks a model exactly what training showed it and
ends answers where training ended them. Rows are left-padded, longest first (similar lengths per
batch), with the KV cache; greedy when temperature is 0, else one seed for the whole call.

A completion's text keeps special tokens (`</think>` is one in some vocabularies and must survive)
except the stop token, eos and padding, and is cut at the format's end-of-turn text, which a
byte-level vocabulary can merge into the token before it (plain: a newline).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from trainers.data.chat_format import Stops


@dataclass
class Completion:
    text: str          # the completion after the prompt (stop token, eos and padding removed)
    n_tokens: int      # tokens generated, the stop token included
    finished: bool     # ended at a stop token or the end-of-turn text (not at max_new_tokens)
    ids: tuple[int, ...] = ()   # the generated token ids, up to (not including) the stop token


def _needs_stop_string(tokenizer, stops: Stops) -> bool:
    """Whether the end-of-turn text is not one of the stop ids (then generate() watches the text)."""
    if not stops.text:
        return False
    piece = tokenizer(stops.text, add_special_tokens=False)["input_ids"]
    return not (len(piece) == 1 and piece[0] in stops.ids)


def _finish(tokenizer, new: list[int], stops: Stops) -> Completion:
    cut = next((k for k, t in enumerate(new) if t in stops.ids), None)
    finished = cut is not None
    ids = new[:cut] if finished else new
    text = tokenizer.decode(ids, skip_special_tokens=False)
    for special in {tokenizer.eos_token, tokenizer.pad_token} - {None, ""}:
        text = text.replace(special, "")
    if stops.text:   # searched after leading whitespace: an answer never ends before it starts
        at = text.find(stops.text, len(text) - len(text.lstrip()))
        if at >= 0:
            text, finished = text[:at], True
            if cut is None:   # count the tokens up to the one that holds the end-of-turn text
                cut = next((k for k in range(1, len(new) + 1)
                            if stops.text in tokenizer.decode(new[:k], skip_special_tokens=False).lstrip()), len(new)) - 1
    n_tokens = (cut + 1) if finished else len(new)
    return Completion(text, n_tokens, finished, tuple(new[:cut] if cut is not None else new))


@torch.no_grad()
def generate_batched(model, tokenizer, prompts: list[list[int]], stops: Stops, max_new_tokens: int,
                     temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, batch_size: int = 8,
                     n: int = 1) -> list[list[Completion]]:
    """`n` completions per prompt, in prompt order (a list of n per prompt)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ValueError("tokenizer has neither a pad nor an eos token to pad batches with")
    rows = [i for i in range(len(prompts)) for _ in range(n)]
    order = sorted(range(len(rows)), key=lambda r: -len(prompts[rows[r]]))   # stable: samples stay in order
    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else \
        dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    if _needs_stop_string(tokenizer, stops):
        sampling.update(stop_strings=[stops.text], tokenizer=tokenizer)
    device = next(model.parameters()).device
    out: list[Completion | None] = [None] * len(rows)
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            width = max(len(prompts[rows[r]]) for r in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for k, r in enumerate(idx):
                p = prompts[rows[r]]
                ids[k, width - len(p):] = torch.tensor(p, dtype=torch.long)
                mask[k, width - len(p):] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                                 eos_token_id=list(stops.ids), use_cache=True, **sampling)
            for k, r in enumerate(idx):
                out[r] = _finish(tokenizer, gen[k, width:].tolist(), stops)
    finally:
        model.train(was_training)
    return [out[i * n:(i + 1) * n] for i in range(len(prompts))]
