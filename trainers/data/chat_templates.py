"""The chat format travels with exported weights: a Jinja chat template per format, and a small file.

A merged model or saved adapter is used by tools that know nothing of kdtune (transformers'
`apply_chat_template`, vLLM, llama.cpp converters). Their prompts must be the ones the model was
trained on, so the exported tokenizer gets a chat template that renders each format as
trainers.data.chat_format does (text for text: R1 history turns lose their think block, the last answer
continues `<think>\\n`, no system turn is injected), and `kdtune_chat_format.json` names the format,
its stop tokens and sampling defaults, which kdtune's own eval reads back.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from trainers.data.chat_format import GEMMA_CHAT_TEMPLATE, sampling_defaults, stop_tokens

FORMAT_FILE = "kdtune_chat_format.json"

# Shared head: `ns.last` is the last assistant turn (none when a new answer is asked for); `text(m, i)` is a message as rendered (an
# earlier assistant turn keeps only what follows its think block, as chat_format.strip_think does).
_HEAD = (
    "{%- set ns = namespace(last=-1, after=false) -%}"
    "{%- for m in messages -%}{%- if m['role'] == 'assistant' -%}{%- set ns.last = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{%- set ns.last = -1 -%}{%- endif -%}"   # a new answer follows: all history
    "{%- macro text(m, i) -%}{%- set c = m['content'] -%}"
    "{%- if m['role'] == 'assistant' and i != ns.last and '</think>' in c and c.lstrip().startswith('<think>') -%}"
    "{{- c.split('</think>', 1)[1].lstrip() -}}{%- else -%}{{- c -}}{%- endif -%}{%- endmacro -%}"
)

TEMPLATES = {
    "r1": _HEAD + (
        "{{- bos_token -}}"
        "{%- for m in messages -%}{%- set c = text(m, loop.index0) -%}"
        "{%- if m['role'] == 'system' -%}{{- c -}}"
        "{%- elif m['role'] == 'user' -%}{{- '<｜User｜>' + c -}}"
        "{%- elif loop.index0 == ns.last -%}{%- set b = c.lstrip() -%}"
        "{%- if b.startswith('<think>') -%}{%- set b = b[7:] -%}{%- if b.startswith('\n') -%}{%- set b = b[1:] -%}"
        "{%- endif -%}{{- '<｜Assistant｜><think>\n' + b + eos_token -}}"
        "{%- else -%}{{- '<｜Assistant｜><think>\n\n</think>\n\n' + c + eos_token -}}{%- endif -%}"
        "{%- else -%}{{- '<｜Assistant｜>' + c + eos_token -}}{%- endif -%}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<｜Assistant｜><think>\n' -}}{%- endif -%}"),
    "chatml": _HEAD + (
        "{%- for m in messages -%}"
        "{{- '<|im_start|>' + m['role'] + '\n' + text(m, loop.index0) + '<|im_end|>\n' -}}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"),
    "llama3": _HEAD + (
        "{{- '<|begin_of_text|>' -}}{%- for m in messages -%}"
        "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' + text(m, loop.index0) + '<|eot_id|>' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}{%- endif -%}"),
    "plain": _HEAD + (
        "{{- bos_token -}}{%- for m in messages -%}{%- set c = text(m, loop.index0) | trim -%}"
        "{%- if m['role'] == 'assistant' -%}{{- c + '\n' -}}"
        "{%- else -%}{{- ('\n' if ns.after else '') + c + ('\n\n' if m['role'] == 'system' else '\n답: ') -}}"
        "{%- endif -%}{%- set ns.after = m['role'] == 'assistant' -%}{%- endfor -%}"),
    "gemma": GEMMA_CHAT_TEMPLATE,
}


def chat_template(fmt: str, tokenizer) -> str | None:
    """The template that renders `fmt`; "template" keeps the tokenizer's own (None if it has none)."""
    return TEMPLATES[fmt] if fmt in TEMPLATES else getattr(tokenizer, "chat_template", None)


def export_chat_format(out_dir: Path, tokenizer, fmt: str) -> None:
    """Give the tokenizer saved in `out_dir` the format's template and write FORMAT_FILE next to it."""
    template = chat_template(fmt, tokenizer)
    if template is not None and getattr(tokenizer, "chat_template", None) != template:
        saved = copy.copy(tokenizer)      # the caller's tokenizer keeps its own template
        saved.chat_template = template
        saved.save_pretrained(out_dir)
    stops = stop_tokens(tokenizer, fmt)
    (Path(out_dir) / FORMAT_FILE).write_text(json.dumps(
        {"chat_format": fmt, "stop_token_ids": list(stops.ids), "end_of_turn": stops.text,
         "sampling": sampling_defaults(fmt)}, ensure_ascii=False, indent=2), encoding="utf-8")


def saved_chat_format(path) -> str | None:
    """The format recorded in an exported directory (merged model, adapter, full weights), if any."""
    file = Path(path).expanduser() / FORMAT_FILE
    return json.loads(file.read_text(encoding="utf-8"))["chat_format"] if file.is_file() else None
