"""The one grammar for `dotted.key=value` overrides, shared by `kdtune run/validate` (recipe configs),
bench arms' `eval_overrides` and `kdtune data prepare` (data configs).

    train.max_steps=8          value parsed as a YAML scalar or flow collection: 8, 1e-4, true, [q_proj, v_proj]
    inputs.0.path=a.jsonl      a number after a list selects that list item
    model.revision=            an empty value is the empty string

A value that is not valid YAML is kept as the text given (a path with a colon, say). A missing
section is created; a scalar in the way of a deeper key is replaced by a section, so validation
then reports the key rather than this parser guessing.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

_YAML11_MISSED_FLOAT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


class OverrideError(ValueError):
    """An override that does not follow the grammar; callers add where it came from."""


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], parsed value)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise OverrideError(f"override '{item}' must look like dotted.key=value (e.g. train.max_steps=8)")
    parts = key.strip().split(".")
    if not all(parts):
        raise OverrideError(f"override '{item}': empty key segment in '{key}'")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    if isinstance(value, str) and _YAML11_MISSED_FLOAT.fullmatch(value.strip()):
        value = float(value)   # YAML 1.1 reads `1e-4` (no dot) as text; everyone means the number
    return parts, value


def apply_override(raw: dict, item: str) -> list[list[str]]:
    """Set one override in `raw` in place. Returns the key paths it wrote: the key itself and any
    section it had to create or replace, so a caller can record that they came from the override."""
    parts, value = parse_override(item)
    written: list[list[str]] = []
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        key: Any = part
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise OverrideError(f"override '{item}': '{'.'.join(parts[:i])}' is a list of {len(node)} "
                                    f"item(s) and '{part}' is not an index of the list (0..{len(node) - 1})")
            key = int(part)
        if last:
            node[key] = value
            written.append(parts)
        else:
            if not isinstance(node[key] if isinstance(node, list) else node.get(key), (dict, list)):
                node[key] = {}
                written.append(parts[:i + 1])
            node = node[key]
    return written
