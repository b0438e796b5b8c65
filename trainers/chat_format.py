"""Chats -> token ids and labels, with the loss only on assistant tokens.

Formats are written out here rather than taken from each tokenizer's chat template because the
templates shipped with the R1 distills strip `<think>…</think>` from every assistant message —
training through them silently teaches the model to stop reasoning. Each format renders a chat as
segments (text, trained?) and each segment is tokenised separately, so the label mask is exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE = -100
THINK_BLOCK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)


@dataclass(frozen=True)
class Segment:
    text: str
    trained: bool


def strip_think(text: str) -> str:
    """R1 convention for earlier turns: keep only what follows `</think>`."""
    return THINK_BLOCK.sub("", text, count=1) if "</think>" in text else text


def _assistant_texts(messages: list[dict], keep_think: bool) -> list[str]:
    """Earlier assistant turns lose their think block (as at inference); the last keeps it if asked."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return [m["content"] if (i == last and keep_think) or m["role"] != "assistant"
            else strip_think(m["content"]) for i, m in enumerate(messages)]


def r1_segments(messages: list[dict], specials: dict, keep_think: bool) -> list[Segment]:
    texts = _assistant_texts(messages, keep_think)
    segs = [Segment(specials["bos"], False)]
    for m, text in zip(messages, texts):
        if m["role"] == "system":
            segs.append(Segment(text, False))
        elif m["role"] == "user":
            segs.append(Segment("<｜User｜>" + text, False))
        else:
            segs += [Segment("<｜Assistant｜>", False), Segment(text + specials["eos"], True)]
    return segs


def chatml_segments(messages: list[dict], specials: dict, keep_think: bool) -> list[Segment]:
    texts = _assistant_texts(messages, keep_think)
    segs = []
    for m, text in zip(messages, texts):
        if m["role"] == "assistant":
            segs += [Segment("<|im_start|>assistant\n", False), Segment(text + "<|im_end|>", True),
                     Segment("\n", False)]
        else:
            segs.append(Segment(f"<|im_start|>{m['role']}\n{text}<|im_end|>\n", False))
    return segs


def llama3_segments(messages: list[dict], specials: dict, keep_think: bool) -> list[Segment]:
    texts = _assistant_texts(messages, keep_think)
    segs = [Segment("<|begin_of_text|>", False)]
    for m, text in zip(messages, texts):
        header = f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n"
        if m["role"] == "assistant":
            segs += [Segment(header, False), Segment(text + "<|eot_id|>", True)]
        else:
            segs.append(Segment(header + text + "<|eot_id|>", False))
    return segs


def gemma_segments(messages: list[dict], specials: dict, keep_think: bool) -> list[Segment]:
    """Gemma's turns, as its chat template renders them: the assistant is "model", a system text is
    prepended to the first user turn (Gemma has no system role), every text is stripped."""
    texts = _assistant_texts(messages, keep_think)
    system = [t for m, t in zip(messages, texts) if m["role"] == "system"]
    prefix = system[0] + "\n\n" if system else ""   # the template trims turns, not the system text
    segs = [Segment(specials["bos"], False)]
    for m, text in zip(messages, texts):
        if m["role"] == "system":
            continue
        if m["role"] == "assistant":
            segs += [Segment("<start_of_turn>model\n", False), Segment(text.strip() + "<end_of_turn>", True),
                     Segment("\n", False)]
        else:
            segs.append(Segment(f"<start_of_turn>{m['role']}\n{prefix}{text.strip()}<end_of_turn>\n", False))
            prefix = ""
    return segs


def plain_segments(messages: list[dict], specials: dict, keep_think: bool) -> list[Segment]:
    """No chat markup, for base models that never saw any: each user text, then "답: " and the
    answer, which ends at its newline (the trained end-of-answer, where generation stops). A base
    model reads k-shot examples in this layout as a document it knows how to continue (Gemma 3 270M
    base, finance test, 4-shot: 33% vs 10% with Gemma's chat markup); system text opens the prompt."""
    texts = _assistant_texts(messages, keep_think)
    segs, after_answer = [Segment(specials["bos"], False)], False
    for m, text in zip(messages, texts):
        if m["role"] == "assistant":
            segs.append(Segment(text.strip() + "\n", True))
        else:   # a blank line between a solved example and the next text; none after the answer
            end = "\n\n" if m["role"] == "system" else "\n답: "
            segs.append(Segment(("\n" if after_answer else "") + text.strip() + end, False))
        after_answer = m["role"] == "assistant"
    return segs


# Gemma 3's own template (text only), which `gemma_segments` reproduces token for token; kdtune gives
# it to Gemma tokenizers that ship none (the base model's GGUF) so generation prompts match training.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

FORMATS = {"r1": r1_segments, "chatml": chatml_segments, "llama3": llama3_segments, "gemma": gemma_segments,
           "plain": plain_segments}
# First match wins; Gemma first, since its 262k vocabulary is the one most likely to hold others' markers.
MARKERS = {"gemma": "<start_of_turn>", "r1": "<｜Assistant｜>", "chatml": "<|im_start|>",
           "llama3": "<|start_header_id|>"}


def detect_format(tokenizer) -> str:
    vocab = tokenizer.get_vocab()
    for name, marker in MARKERS.items():
        if marker in vocab:
            return name
    if getattr(tokenizer, "chat_template", None):
        return "template"
    raise ValueError("cannot tell this tokenizer's chat format (no Gemma, R1, ChatML or Llama 3 special "
                     "tokens and no chat_template); set model.chat_format")


def _template_ids(messages, tokenizer, keep_think) -> tuple[list[int], list[int]]:
    """Any tokenizer chat template: assistant spans found by rendering growing prefixes."""
    texts = _assistant_texts(messages, keep_think)
    msgs = [dict(m, content=t) for m, t in zip(messages, texts)]
    ids = tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=False)
    labels = [IGNORE] * len(ids)
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(msgs[:i], tokenize=True, add_generation_prompt=True,
                                                  return_dict=False))
        end = len(tokenizer.apply_chat_template(msgs[:i + 1], tokenize=True, return_dict=False))
        labels[start:end] = ids[start:end]
    return list(ids), labels


def tokenize_chat(messages: list[dict], tokenizer, fmt: str, max_len: int,
                  keep_think: bool = True) -> tuple[list[int], list[int]]:
    """-> (input_ids, labels) truncated to max_len; labels are IGNORE outside assistant text."""
    if fmt == "template":
        ids, labels = _template_ids(messages, tokenizer, keep_think)
    else:
        specials = {"bos": tokenizer.bos_token or "", "eos": tokenizer.eos_token or ""}
        ids, labels = [], []
        for seg in FORMATS[fmt](messages, specials, keep_think):
            piece = tokenizer(seg.text, add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if seg.trained else [IGNORE] * len(piece)
    return ids[:max_len], labels[:max_len]
