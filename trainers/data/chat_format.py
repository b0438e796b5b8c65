"""Chats -> token ids and labels, with the loss only on assistant tokens.

Formats are written out here rather than taken from each tokenizer's chat template because the
templates shipped with the R1 distills strip `<think>…</think>` from every assistant message —
training through them silently teaches the model to stop reasoning. Each format renders a chat as
segments (text, trained?) and each segment is tokenised separately, so the label mask is exact.

The same segments give the generation prompt (`generation_prompt`): the chat plus an empty assistant
turn, cut before the answer's trained segment, so a model is asked exactly the prompt it was
trained on. R1 follows DeepSeek's usage notes: the generation prompt is `<｜Assistant｜><think>\n`,
so in training the last answer also starts after `<think>\n` (that opener is prompt, not target), and
an answer written without reasoning gets an empty think block (`<think>\n\n</think>\n\n` + answer,
as DeepSeek's own template renders one): otherwise the model would be trained to answer straight
after `<｜Assistant｜>` and asked after `<think>\n`, a prompt it never saw.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from trainers.errors import UserError

IGNORE = -100
THINK_BLOCK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)


class ChatFormatError(UserError, ValueError):
    """A chat format that cannot be used: the user names one with model.chat_format (exit 2).
    Also a ValueError, for callers that add the model's name to it."""


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


R1_THINK = "<think>\n"           # DeepSeek's generation prompt ends `<｜Assistant｜><think>\n`
R1_NO_THINK = "\n</think>\n\n"   # closes that block at once: an answer written without reasoning


def r1_answer(text: str, eos: str) -> list[Segment]:
    """The last answer as the continuation of `<think>\n`: its own opener removed, or, for an
    answer without reasoning, the empty block closed first (module docstring says why). The closer
    is a segment of its own, so scorers can tell it from the answer text (answer_offset)."""
    body = text.lstrip()
    if body.startswith("<think>"):
        return [Segment(body[len("<think>"):].removeprefix("\n") + eos, True)]
    return [Segment(R1_NO_THINK, True), Segment(text + eos, True)]


def r1_segments(messages: list[dict], specials: dict, keep_think: bool) -> list[Segment]:
    texts = _assistant_texts(messages, keep_think)
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    segs = [Segment(specials["bos"], False)]
    for i, (m, text) in enumerate(zip(messages, texts)):
        if m["role"] == "system":
            segs.append(Segment(text, False))
        elif m["role"] == "user":
            segs.append(Segment("<｜User｜>" + text, False))
        elif i == last:     # earlier turns are history, rendered without reasoning as R1 sees them
            segs += [Segment("<｜Assistant｜>" + R1_THINK, False), *r1_answer(text, specials["eos"])]
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
    raise ChatFormatError("cannot tell this tokenizer's chat format (no Gemma, R1, ChatML or Llama 3 special "
                          "tokens and no chat_template); set model.chat_format to one of r1, chatml, "
                          "llama3, gemma, plain")


def configured_format(chat_format: str, tokenizer) -> str:
    """model.chat_format, or the tokenizer's own when it is "auto"."""
    return chat_format if chat_format != "auto" else detect_format(tokenizer)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def template_segments(messages: list[dict], tokenizer, keep_think: bool) -> list[Segment]:
    """Any tokenizer chat template, cut into segments like the formats above: an answer starts where
    the rendered chat leaves the template's generation prompt and ends where the chat up to it ends.
    A template whose generation prompt opens `<think>` (R1's) gets R1's rule for an answer without
    reasoning (r1_answer); a template that renders the last answer unlike its own generation prompt
    is refused rather than trained on a prompt generation never asks."""
    texts = _assistant_texts(messages, keep_think)
    msgs = [dict(m, content=t) for m, t in zip(messages, texts)]

    def render(ms, gen):
        return tokenizer.apply_chat_template(ms, tokenize=False, add_generation_prompt=gen)
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    asked = render(msgs[:last], True)
    if asked.rstrip().endswith("<think>") and not msgs[last]["content"].lstrip().startswith("<think>"):
        msgs[last] = dict(msgs[last], content=R1_THINK + R1_NO_THINK + msgs[last]["content"])
    full = render(msgs, False)
    segs, pos = [], 0
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prompt = asked if i == last else render(msgs[:i], True)
        start = max(_common_prefix(prompt, full), pos)
        if i == last and start < len(prompt):
            raise ChatFormatError("this tokenizer's chat template renders an answer unlike its own generation "
                                  "prompt, so a model trained through it would be asked a prompt it never saw; "
                                  "set model.chat_format to r1, chatml, llama3, gemma or plain")
        end = max(_common_prefix(render(msgs[:i + 1], False), full), start)
        segs += [Segment(full[pos:start], False), Segment(full[start:end], True)]
        pos = end
    return segs + [Segment(full[pos:], False)]


def _specials(tokenizer) -> dict:
    return {"bos": tokenizer.bos_token or "", "eos": tokenizer.eos_token or ""}


def _render(segments: list[Segment], tokenizer) -> tuple[list[int], list[int]]:
    ids, labels = [], []
    for seg in segments:
        piece = tokenizer(seg.text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if seg.trained else [IGNORE] * len(piece)
    return ids, labels


def _check_format(fmt: str) -> None:
    if fmt != "template" and fmt not in FORMATS:
        raise ChatFormatError(f"unknown chat format {fmt!r}; known: {', '.join([*FORMATS, 'template'])}")


def tokenize_chat(messages: list[dict], tokenizer, fmt: str, max_len: int,
                  keep_think: bool = True) -> tuple[list[int], list[int]]:
    """-> (input_ids, labels) truncated to max_len; labels are IGNORE outside assistant text."""
    _check_format(fmt)
    segs = template_segments(messages, tokenizer, keep_think) if fmt == "template" else \
        FORMATS[fmt](messages, _specials(tokenizer), keep_think)
    ids, labels = _render(segs, tokenizer)
    return ids[:max_len], labels[:max_len]


# ---- inference: the same rendering, cut where the answer starts -------------------------------------

def generation_prompt(messages: list[dict], tokenizer, fmt: str) -> list[int]:
    """Token ids of a chat that ends in a user turn, up to where the assistant's answer starts:
    exactly the ids tokenize_chat gives the same chat with an answer, before that answer's first
    trained token (R1: ending `<｜Assistant｜><think>\n`; no system turn is ever added)."""
    _check_format(fmt)
    if not messages or messages[-1]["role"] == "assistant":
        raise ValueError("a generation prompt needs a chat that ends in a user (or system) turn")
    asked = messages + [{"role": "assistant", "content": ""}]
    segs = template_segments(asked, tokenizer, True) if fmt == "template" else \
        FORMATS[fmt](asked, _specials(tokenizer), True)
    answer = max(i for i, s in enumerate(segs) if s.trained)
    while segs[answer - 1].trained:     # the answer's first trained segment (R1: the think closer)
        answer -= 1
    return _render(segs[:answer], tokenizer)[0]


def prompt_opens_think(tokenizer, prompt_ids: list[int]) -> bool:
    """Whether a generation prompt ends inside an opened `<think>` (R1): the completion continues
    the reasoning, and a reader of it puts the opener back in front."""
    return tokenizer.decode(prompt_ids[-4:], skip_special_tokens=False).rstrip().endswith("<think>")


def answer_offset(answer_ids: list[int], tokenizer, fmt: str) -> int:
    """How many of an answer's trained tokens come before its text: R1's empty think block, which
    a label scorer moves into the prompt (every label shares it) so only the label is compared."""
    if fmt != "r1":
        return 0
    closer = tokenizer(R1_NO_THINK, add_special_tokens=False)["input_ids"]
    return len(closer) if answer_ids[:len(closer)] == closer and len(answer_ids) > len(closer) else 0


# The text that ends an answer in each format (R1: the end-of-sentence token, i.e. eos).
END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>", "gemma": "<end_of_turn>", "plain": "\n"}
# DeepSeek's usage notes for the R1 distills: sample at temperature 0.6, top-p 0.95 (greedy decoding
# repeats itself). Other formats decode greedily unless a config says otherwise.
SAMPLING = {"r1": {"temperature": 0.6, "top_p": 0.95}}
GREEDY = {"temperature": 0.0, "top_p": 1.0}


@dataclass(frozen=True)
class Stops:
    ids: tuple[int, ...]   # tokens that end an answer: eos and the format's end-of-turn token
    text: str              # the end-of-turn text; a completion is cut at it (plain: a newline, which
                           # byte-level vocabularies can merge into the token before it)


def _template_terminator(tokenizer) -> str:
    mark = "\u2063ANSWER\u2063"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "q"}, {"role": "assistant", "content": mark}],
                                         tokenize=False)
    return text.split(mark, 1)[1].strip() if mark in text else ""


def stop_tokens(tokenizer, fmt: str) -> Stops:
    """The one set of stop tokens generation uses for `fmt` (eval, traces, label generation)."""
    _check_format(fmt)
    end = _template_terminator(tokenizer) if fmt == "template" else END_OF_TURN.get(fmt, tokenizer.eos_token or "")
    ids = {tokenizer.eos_token_id}
    piece = tokenizer(end, add_special_tokens=False)["input_ids"] if end else []
    if len(piece) == 1:
        ids.add(piece[0])
    return Stops(tuple(sorted(i for i in ids if i is not None)), end)


def sampling_defaults(fmt: str) -> dict:
    """{"temperature", "top_p"} to use when a config leaves them unset."""
    return dict(SAMPLING.get(fmt, GREEDY))
