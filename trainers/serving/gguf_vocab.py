"""A transformers fast tokenizer -> the tokenizer.ggml.* metadata llama.cpp tokenises with.

Two kinds of tokenizer exist in the models kdtune trains, and llama.cpp implements both:
  * byte-level BPE (Qwen2/R1 distills, Llama 3, kdtune's tiny models): model "gpt2", the merges,
    and a pre-tokenizer NAME — llama.cpp does not read a split regex from the file, it knows a
    fixed set by name. The name is found by comparing the tokenizer's split regex with the ones
    transformers' GGUF reader associates with llama.cpp's names (its own table), or GPT-2's
    built-in split for "gpt2". A regex llama.cpp has no name for is an export error: a file with a
    wrong name would load and tokenise differently, silently.
  * SentencePiece-style BPE with byte fallback (Gemma): model "llama", a score per token and the
    byte tokens <0xNN>. llama.cpp merges the adjacent pair whose result scores highest, so the
    score of a token is minus the rank of the first merge that makes it: the merge order of the
    tokenizer, which transformers' reader also rebuilds (the merges are written as well).
Token types: special added tokens are CONTROL, other added tokens (e.g. `<think>`, Gemma's
newline runs) USER_DEFINED — both matched whole in text, as transformers does.
"""
from __future__ import annotations

import json
import re

from trainers.errors import UserError

BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def _backend(tokenizer) -> dict:
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("GGUF export needs a fast (tokenizers) tokenizer; this one is a slow Python tokenizer")
    return json.loads(tokenizer.backend_tokenizer.to_str())


def _merges(model: dict) -> list[str]:
    return [" ".join(m) if isinstance(m, (list, tuple)) else m for m in model.get("merges", [])]


def _parts(node: dict | None) -> list[dict]:
    if node is None:
        return []
    return node.get("pretokenizers") or node.get("normalizers") or [node]


def pre_tokenizer_name(backend: dict) -> str:
    """llama.cpp's name for this byte-level tokenizer's split, or a UserError."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS
    parts = _parts(backend.get("pre_tokenizer"))
    kinds = [p["type"] for p in parts]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True) and not parts[0].get("add_prefix_space"):
        # tokenizers' ByteLevel regex is GPT-2's: llama.cpp names that split "gpt-2" (with the hyphen;
        # "gpt2" is the BPE *model* name, and as a pre-tokenizer llama.cpp refuses to load it)
        return "gpt-2"
    if kinds == ["Split", "ByteLevel"] and not parts[1].get("use_regex", True):
        regex = parts[0]["pattern"].get("Regex")
        for name, known in GGUF_PRE_TOKENIZER_SPLITS.items():
            if regex == known:
                return name
    raise UserError(f"this tokenizer splits text in a way llama.cpp has no name for (pre-tokenizer "
                    f"{json.dumps(backend.get('pre_tokenizer'), ensure_ascii=False)[:200]}); a GGUF of it "
                    f"would tokenise differently in llama.cpp. Serve this model with transformers or vLLM.")


def _check_normalizer(backend: dict, allowed: set[str]) -> list[dict]:
    parts = [p for p in _parts(backend.get("normalizer")) if p.get("type") not in ("NFC",)]
    bad = [p["type"] for p in parts if p["type"] not in allowed]
    if bad:
        raise UserError(f"this tokenizer normalises text with {', '.join(bad)}, which llama.cpp does not do; "
                        f"a GGUF of it would tokenise differently. Serve it with transformers or vLLM.")
    return parts


def vocab_metadata(tokenizer) -> dict:
    """{model, pre, tokens, types, scores, merges, add_space_prefix} for the GGUF, or a UserError."""
    import gguf
    backend = _backend(tokenizer)
    model = backend["model"]
    if model["type"] != "BPE":
        raise UserError(f"GGUF export supports BPE tokenizers (byte-level or SentencePiece-style); this "
                        f"one is {model['type']}")
    size = len(tokenizer)
    vocab = tokenizer.get_vocab()
    tokens = [None] * size
    for text, i in vocab.items():
        if i < size:
            tokens[i] = text
    if None in tokens:
        raise UserError(f"the tokenizer's ids are not contiguous ({tokens.count(None)} of {size} missing); "
                        f"llama.cpp needs one token per id")
    added = {a["id"]: a for a in backend.get("added_tokens", [])}
    types = []
    for i, text in enumerate(tokens):
        if i in added:
            types.append(gguf.TokenType.CONTROL if added[i]["special"] else gguf.TokenType.USER_DEFINED)
        elif model.get("byte_fallback") and BYTE_TOKEN.fullmatch(text):
            types.append(gguf.TokenType.BYTE)
        elif text == model.get("unk_token"):
            types.append(gguf.TokenType.UNKNOWN)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = _merges(model)
    if not model.get("byte_fallback"):
        if backend.get("decoder", {}).get("type") != "ByteLevel":
            raise UserError("a BPE tokenizer without byte fallback must be byte-level (GPT-2 style) to export")
        _check_normalizer(backend, set())
        return {"model": "gpt2", "pre": pre_tokenizer_name(backend), "tokens": tokens, "types": types,
                "scores": None, "merges": merges, "add_space_prefix": None}
    parts = _check_normalizer(backend, {"Replace", "Prepend"})
    if not any(p["type"] == "Replace" and p.get("content") == "\u2581" for p in parts):
        raise UserError("a byte-fallback BPE tokenizer must write spaces as '\u2581' (SentencePiece style) "
                        "for llama.cpp's SentencePiece tokeniser to read it")
    pre = _parts(backend.get("pre_tokenizer"))
    if any(p["type"] not in ("Split", "Metaspace") for p in pre):
        raise UserError(f"pre-tokenizer {[p['type'] for p in pre]} has no llama.cpp SentencePiece equivalent")
    rank = {}
    for r, m in enumerate(merges):
        rank.setdefault(m.replace(" ", ""), r)
    scores = [-float(rank.get(t, len(merges) + i)) for i, t in enumerate(tokens)]
    return {"model": "llama", "pre": "default", "tokens": tokens, "types": types, "scores": scores,
            "merges": merges, "add_space_prefix": any(p["type"] == "Prepend" for p in parts)
            or any(p["type"] == "Metaspace" and p.get("prepend_scheme", "always") != "never" for p in pre)}


def write_vocab(w, tokenizer, chat_template: str | None, eot_id: int | None = None) -> dict:
    """Write the tokenizer, special ids, BOS/EOS behaviour and chat template; -> the vocab metadata."""
    meta = vocab_metadata(tokenizer)
    w.add_tokenizer_model(meta["model"])
    w.add_tokenizer_pre(meta["pre"])
    w.add_token_list(meta["tokens"])
    w.add_token_types(meta["types"])
    if meta["scores"] is not None:
        w.add_token_scores(meta["scores"])
    if meta["merges"]:
        w.add_token_merges(meta["merges"])
    if meta["add_space_prefix"] is not None:
        w.add_add_space_prefix(meta["add_space_prefix"])
    for kind in ("bos", "eos", "unk", "pad"):
        tid = getattr(tokenizer, f"{kind}_token_id", None)
        if tid is not None:
            getattr(w, f"add_{kind}_token_id")(tid)
    if eot_id is not None:
        w.add_eot_token_id(eot_id)
    # what the tokenizer does, not what a flag claims: encode a word and look at the ends
    ids = tokenizer("가")["input_ids"]
    w.add_add_bos_token(tokenizer.bos_token_id is not None and ids[:1] == [tokenizer.bos_token_id])
    w.add_add_eos_token(tokenizer.eos_token_id is not None and ids[-1:] == [tokenizer.eos_token_id])
    if chat_template:
        w.add_chat_template(chat_template)
    return meta
