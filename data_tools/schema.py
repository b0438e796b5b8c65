"""Schema adapters: one raw row (bytes or dict) -> one clean record, or `RowRejected`.

Three record shapes leave data_tools (the trainer reads exactly these):
    chat: {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...], "meta": {...}}
    mcqa: {"question": str, "choices": [str, ...], "answer": int (1-based), "category": str, "meta": {...}}
    cls:  {"text": str, "label": str, "meta": {...}}  (data_tools.cls_tasks reads it; the text is the
          prompt side: dedup and contamination look at the text, never at the label)
Instruction rows (instruction/input/output) become chat: user "instruction\\n\\ninput", assistant output.
ShareGPT rows (`conversations: [{"from": "human"|"gpt"|"system", "value": ...}]`) become chat too.
MCQA layouts: KMMLU `question, A-D, answer 1-4, Category`; KorMedMCQA `question, A-E, answer 1-5`.

`fields: {canonical: source_key}` in an input config renames columns, e.g. {"output": "답변"}.
"""

from __future__ import annotations

import json
import math
import re

from data_tools.ingest import CSV_SHAPE_ERROR
from data_tools.quarantine import RowRejected

ROLES = ("system", "user", "assistant")
OPTION_KEYS = {"kmmlu": ["A", "B", "C", "D"], "kormedmcqa": ["A", "B", "C", "D", "E"]}
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# Where a canonical field is looked for when the config does not map it (first present wins).
DEFAULT_KEYS = {"category": ("category", "Category")}
# ShareGPT's speaker names; `roles:` in an input config adds to or overrides them.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system"}


def payload_to_object(payload: bytes | dict) -> dict:
    """A JSONL line's bytes or a CSV/Parquet row -> dict, rejecting what cannot be a row."""
    if isinstance(payload, dict):
        if CSV_SHAPE_ERROR in payload:
            raise RowRejected("bad_csv_row", payload[CSV_SHAPE_ERROR])
        # Arrow strings are valid UTF-8, so a surrogate here is a CSV byte that was not UTF-8
        # (kept by the reader's surrogateescape).
        for key, value in payload.items():
            if isinstance(value, str) and _ESCAPED_BYTE.search(value):
                byte = ord(_ESCAPED_BYTE.search(value).group()) - 0xDC00
                raise RowRejected("not_utf8", f"byte {byte:#04x} in {key!r}")
        return payload
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RowRejected("not_utf8", f"byte {payload[err.start]:#04x} at offset {err.start}") from None
    try:
        # A byte-order mark is harmless metadata (Windows editors add it), not part of the row.
        obj = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as err:
        raise RowRejected("bad_json", str(err)) from None
    if not isinstance(obj, dict):
        raise RowRejected("not_object", f"a JSON {type(obj).__name__}, not an object")
    return obj


def to_record(obj: dict, spec, source: str, line: int) -> dict:
    """Shape `obj` by the input spec (an `InputConfig`); meta records where it came from."""
    adapter = spec.adapter if spec.adapter != "auto" else detect_adapter(obj, spec)
    if adapter == "instruction":
        record = _from_instruction(obj, spec)
    elif adapter in ("chat", "sharegpt"):
        record = _from_chat(obj, spec, sharegpt=adapter == "sharegpt")
    elif adapter == "cls":
        record = {"text": _text(obj, spec, "text"), "label": _text(obj, spec, "label")}
    else:
        record = _from_mcqa(obj, spec, adapter)
    meta = {"source": source, "line": line}
    for key in spec.passthrough:
        if key in obj:
            meta[key] = _jsonable(obj[key])
    record["meta"] = meta
    return record


def detect_adapter(obj: dict, spec) -> str:
    def has(name: str) -> bool:
        return _key(obj, spec, name) in obj
    if has("messages"):
        return "chat"
    if "conversations" in obj:
        return "sharegpt"
    if has("instruction") or has("output"):
        return "instruction"  # a missing half is then reported as missing_field
    if has("question"):
        if has("choices"):
            return "mcqa"
        return "kormedmcqa" if has("E") else "kmmlu"
    # Only rows that are text+label and nothing else (passthrough keys aside): "text" and "label"
    # are too common as column names to claim a row that carries more.
    cls_keys = {_key(obj, spec, "text"), _key(obj, spec, "label"), *spec.passthrough}
    if has("text") and has("label") and set(obj) <= cls_keys:
        return "cls"
    keys = ", ".join(sorted(map(str, obj))[:12])
    raise RowRejected("unknown_schema", f"no messages, conversations, instruction+output, question+options "
                                        f"or text+label among keys: {keys}")


def map_texts(record: dict, fn) -> dict | None:
    """A copy of `record` with `fn` applied to every text a model or a reader of the dataset sees:
    message contents, question, choices, category, cls text and label, and string passthrough
    values in meta. Roles, answers, meta.source and meta.line are left alone. None if `fn`
    returned None for any text (PII drop mode)."""
    out = {}
    if "messages" in record:
        out["messages"] = [{**m, "content": fn(m["content"])} for m in record["messages"]]
        texts = [m["content"] for m in out["messages"]]
    elif "label" in record:
        out = {"text": fn(record["text"]), "label": fn(record["label"])}
        texts = [out["text"], out["label"]]
    else:
        out = {"question": fn(record["question"]), "choices": [fn(c) for c in record["choices"]],
               "answer": record["answer"], "category": fn(record["category"]) if record["category"] else ""}
        texts = [out["question"], *out["choices"], out["category"]]
    if "meta" in record:
        meta = record["meta"]
        out["meta"] = {k: v if k in ("source", "line") else _map_nested(v, fn) for k, v in meta.items()}
        texts += [v for k, v in out["meta"].items() if k not in ("source", "line")]
    return None if any(_has_none(t) for t in texts) else out


def _map_nested(value, fn):
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_nested(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_nested(v, fn) for k, v in value.items()}
    return value


def _has_none(value) -> bool:
    if value is None:
        return True
    if isinstance(value, list):
        return any(_has_none(v) for v in value)
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    return False


def check_not_empty(record: dict) -> None:
    """After normalisation a field of only zero-width or control characters is empty: reject it."""
    if "messages" in record:
        for i, message in enumerate(record["messages"]):
            if not message["content"]:
                raise RowRejected("empty_field", f"messages[{i}] is empty after normalisation")
        return
    if "label" in record:
        for name in ("text", "label"):
            if not record[name]:
                raise RowRejected("empty_field", f"{name} is empty after normalisation")
        return
    if not record["question"]:
        raise RowRejected("empty_field", "question is empty after normalisation")
    for i, choice in enumerate(record["choices"]):
        if not choice:
            raise RowRejected("empty_field", f"choices[{i}] is empty after normalisation")


def check_label(record: dict, allowed: tuple[str, ...] | None) -> None:
    """With an allow-list (`labels:` or `task:` in the input config), a label outside it is a
    quarantined row, not a silently dropped or silently new class. Checked after normalisation,
    so an NFD label from a macOS export matches its NFC spelling."""
    if allowed is not None and "label" in record and record["label"] not in allowed:
        raise RowRejected("unknown_label", f"label {record['label']!r} is not one of {list(allowed)}")


def record_kind(record: dict) -> str:
    if "messages" in record:
        return "chat"
    return "cls" if "label" in record else "mcqa"


def record_text(record: dict) -> str:
    """All the text a model would see; used by quality rules, near-dedup and contamination."""
    if "messages" in record:
        return "\n".join(m["content"] for m in record["messages"])
    if "label" in record:  # the label is the answer: two texts that differ only in it are one text
        return record["text"]
    return "\n".join([record["question"], *record["choices"]])


def prompt_text(record: dict) -> str:
    """What a model is asked: user turns, question + options, or a cls text. The contamination check
    looks for this in train rows (an eval row's reference answer may legitimately recur elsewhere)."""
    if "messages" in record:
        return "\n".join(m["content"] for m in record["messages"] if m["role"] == "user")
    return record_text(record)


def _from_instruction(obj: dict, spec) -> dict:
    instruction = _text(obj, spec, "instruction")
    extra = _text(obj, spec, "input", required=False)
    output = _text(obj, spec, "output")
    system = _text(obj, spec, "system", required=False) or spec.system_prompt
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    return {"messages": messages}


def _from_chat(obj: dict, spec, sharegpt: bool = False) -> dict:
    key = spec.fields.get("messages", "conversations") if sharegpt else _key(obj, spec, "messages")
    raw = obj.get(key)
    if raw is None:
        raise RowRejected("missing_field", f"no {key!r}")
    if isinstance(raw, str):  # CSV and some Parquet exports store the list as a JSON string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise RowRejected("wrong_type", f"{key!r} is a string that is not a JSON list") from None
    if not isinstance(raw, list) or not raw:
        raise RowRejected("wrong_type" if not isinstance(raw, list) else "empty_field",
                          f"{key!r} must be a non-empty list of messages")
    role_key = spec.fields.get("role", "from" if sharegpt else "role")
    content_key = spec.fields.get("content", "value" if sharegpt else "content")
    roles_map = {**SHAREGPT_ROLES, **spec.roles} if sharegpt else spec.roles
    messages = []
    for i, message in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(message, dict):
            raise RowRejected("wrong_type", f"{where} is a {type(message).__name__}, not an object")
        role = roles_map.get(message.get(role_key), message.get(role_key))
        if role not in ROLES:
            raise RowRejected("bad_role", f"{where}.{role_key} is {message.get(role_key)!r}")
        content = message.get(content_key)
        if not isinstance(content, str):
            raise RowRejected("wrong_type" if content is not None else "missing_field",
                              f"{where}.{content_key} must be a string")
        if not content.strip():
            raise RowRejected("empty_field", f"{where}.{content_key} is empty")
        messages.append({"role": role, "content": content})
    roles = [m["role"] for m in messages]
    if "user" not in roles or "assistant" not in roles:
        raise RowRejected("bad_conversation", f"needs a user and an assistant message, has {roles}")
    if spec.system_prompt and roles[0] != "system":
        messages.insert(0, {"role": "system", "content": spec.system_prompt})
    return {"messages": messages}


def _from_mcqa(obj: dict, spec, adapter: str) -> dict:
    question = _text(obj, spec, "question")
    option_keys = spec.options or OPTION_KEYS.get(adapter)
    if option_keys is None:  # generic mcqa: a list column
        key = _key(obj, spec, "choices")
        raw = obj.get(key)
        if not isinstance(raw, list) or len(raw) < 2:
            raise RowRejected("wrong_type" if raw is not None else "missing_field",
                              f"{key!r} must be a list of at least 2 options")
        choices = [_option(value, f"{key}[{i}]") for i, value in enumerate(raw)]
    else:
        choices = []
        for name in option_keys:
            key = spec.fields.get(name, name)
            if key not in obj:
                raise RowRejected("missing_field", f"no option {key!r}")
            choices.append(_option(obj[key], key))
    answer = _answer(obj, spec, len(choices))
    category = _text(obj, spec, "category", required=False) or spec.category
    return {"question": question, "choices": choices, "answer": answer, "category": category}


def _option(value, key: str) -> str:
    # Parquet exports often type numeric options ("1200") as numbers; they are still options.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowRejected("wrong_type" if value is not None else "missing_field", f"option {key!r} must be a string")
    if not value.strip():
        raise RowRejected("empty_field", f"option {key!r} is empty")
    return value


def _answer(obj: dict, spec, n_choices: int) -> int:
    key = _key(obj, spec, "answer")
    if key not in obj or obj[key] is None:
        raise RowRejected("missing_field", f"no {key!r}")
    value = obj[key]
    if isinstance(value, str):
        text = value.strip().strip("()").upper()
        if len(text) == 1 and "A" <= text <= "Z":
            value = ord(text) - ord("A") + 1  # letter answers: A is choice 1
        elif text.isdigit():
            value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= n_choices:
        raise RowRejected("bad_answer", f"{key!r} is {obj[key]!r}; expected 1..{n_choices} or a letter")
    return value


def _key(obj: dict, spec, name: str) -> str:
    if name in spec.fields:
        return spec.fields[name]
    for candidate in DEFAULT_KEYS.get(name, (name,)):
        if candidate in obj:
            return candidate
    return name


def _text(obj: dict, spec, name: str, required: bool = True) -> str:
    key = _key(obj, spec, name)
    value = obj.get(key)
    if value is None:
        if required:
            raise RowRejected("missing_field", f"no {key!r}")
        return ""
    if not isinstance(value, str):
        raise RowRejected("wrong_type", f"{key!r} is a {type(value).__name__}, expected a string")
    if required and not value.strip():
        raise RowRejected("empty_field", f"{key!r} is empty")
    return value


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/Infinity would make the output line invalid JSON for strict readers
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)  # dates, decimals and numpy scalars from Parquet
