"""Batched generation for generative evaluation: chat prompts -> completions and their token counts.

Prompts are rendered with the tokenizer's chat template and its generation prompt (for the R1
distills that ends `<｜Assistant｜><think>\\n`), left-padded so every row's last prompt token sits
at the end of the batch. A prompt that opened a `<think>` gets it back in front of the completion,
so answer extraction can tell "ran out of tokens while thinking" from "answered".
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from trainers.evaluation.answers import THINK_OPEN


@dataclass
class Generation:
    text: str            # completion as the answer extractor should read it
    prompt_tokens: int
    new_tokens: int      # tokens generated, eos included


def render_prompt(tokenizer, messages: list[dict]) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # No template (a base model): plain question, answer follows.
    return "\n\n".join(m["content"] for m in messages) + "\n"


def _stop_ids(tokenizer, model) -> list[int]:
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
    return sorted(i for i in ids if i is not None)


@torch.no_grad()
def generate(model, tokenizer, chats: list[list[dict]], batch_size: int, max_new_tokens: int,
             temperature: float = 0.0, top_p: float = 0.95, seed: int = 0) -> list[Generation]:
    """One completion per chat, in input order; greedy when temperature is 0."""
    prompts = [render_prompt(tokenizer, m) for m in chats]
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stops = _stop_ids(tokenizer, model)
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))   # similar lengths per batch
    out: list[Generation | None] = [None] * len(encoded)
    sampling = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else \
        dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            width = max(len(encoded[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(idx):
                ids[r, width - len(encoded[i]):] = torch.tensor(encoded[i])
                mask[r, width - len(encoded[i]):] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_id, eos_token_id=stops,
                                 use_cache=True, **sampling)
            for r, i in enumerate(idx):
                new = gen[r, width:].tolist()
                cut = next((k + 1 for k, t in enumerate(new) if t in stops), len(new))
                text = tokenizer.decode(new[:cut], skip_special_tokens=False)
                for special in {tokenizer.eos_token, tokenizer.pad_token} - {None}:
                    text = text.replace(special, "")
                if prompts[i].rstrip().endswith(THINK_OPEN):
                    text = THINK_OPEN + "\n" + text
                out[i] = Generation(text=text, prompt_tokens=len(encoded[i]), new_tokens=cut)
    finally:
        model.train(was_training)
    return out
