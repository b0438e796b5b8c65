"""Check an exported GGUF with tools kdtune did not write: transformers' GGUF reader and llama.cpp.

For each probe text both readers must tokenise it to the merged model's ids, and their logits on
those ids are compared with the merged model's (fp32): the largest |Δlogit| and the share of
positions whose argmax (the greedy next token) agrees. llama.cpp is reached through the
llama-cpp-python package (the `serving` extra); without it that half is reported as skipped.

Tolerances (measured, docs/export.md): f16 stores weights with an 11-bit mantissa, q8_0 with 8-bit
blocks of 32 sharing one scale, so the logit error grows with the model; agreement of the argmax
is the serving-relevant figure (f16 >= 99%).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# Korean as a client sends it (spacing, digits, Latin, jamo), English, whitespace runs; plus, for the
# readers that parse control tokens the way the chat template uses them, the turn markers.
KOREAN_PROBES = [
    "카드 분실 신고는 앱에서도 되나요? 결제일은 25일인데 연체 이자가 붙나요 ㅠㅠ",
    "대출 금리가 연 4.5%에서 5.2%로 올랐습니다. 중도상환수수료는 얼마인가요?",
    "품질 검사에서 OD 치수 +0.05mm 초과(OOT) 불량이 3건 나왔습니다.\n원인 분석을 부탁드립니다.",
    "환자는 고혈압 병력이 있으며  아침 공복 혈당은 126 mg/dL 입니다.",
    "Hello, World!\n  two  spaces\tand a tab ",
]


def _reference(model, ids: list[int]) -> np.ndarray:
    import torch
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def _compare(ref: np.ndarray, got: np.ndarray) -> dict:
    return {"max_abs_dlogit": float(np.abs(ref - got).max()),
            "argmax_agree": float((ref.argmax(-1) == got.argmax(-1)).mean()),
            "positions": int(ref.shape[0])}


def _summary(rows: list[dict]) -> dict:
    """Over all probes: the worst |Δlogit|, argmax agreement over all positions, ids identical."""
    n = sum(r["positions"] for r in rows)
    return {"max_abs_dlogit": max(r["max_abs_dlogit"] for r in rows),
            "argmax_agree": sum(r["argmax_agree"] * r["positions"] for r in rows) / n,
            "positions": n, "token_ids_identical": all(r["ids_identical"] for r in rows),
            "probes": rows}


def check_transformers(gguf_file: Path, model, tokenizer, texts=KOREAN_PROBES) -> dict:
    """transformers' own GGUF reader (dequantising to fp32) against the merged model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    gguf_file = Path(gguf_file)
    kwargs = dict(gguf_file=gguf_file.name, local_files_only=True)
    # each from_pretrained re-reads every metadata field of the file (a 262k-token vocabulary is
    # ~800k fields, about 20 s on one core); the config is read once and handed to the model load
    config = AutoConfig.from_pretrained(gguf_file.parent, **kwargs)
    back = AutoModelForCausalLM.from_pretrained(gguf_file.parent, config=config, dtype=torch.float32,
                                                **kwargs).eval()
    back_tok = AutoTokenizer.from_pretrained(gguf_file.parent, **kwargs)
    rows = []
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        row = _compare(_reference(model, ids), _reference(back, ids))
        rows.append({**row, "ids_identical": back_tok(text)["input_ids"] == ids})
    return _summary(rows)


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
        return True
    except ImportError:
        return False


def check_llama_cpp(gguf_file: Path, model, tokenizer, texts=KOREAN_PROBES) -> dict:
    """llama.cpp (llama-cpp-python) loading the file: its tokenizer, and its logits on our ids."""
    if not llama_cpp_available():
        return {"skipped": "llama-cpp-python is not installed (pip install -e '.[serving]')"}
    from llama_cpp import Llama
    n_ctx = max(len(tokenizer(t)["input_ids"]) for t in texts) + 8
    llm = Llama(model_path=str(gguf_file), n_ctx=max(n_ctx, 64), n_batch=max(n_ctx, 64), logits_all=True,
                verbose=False, n_threads=int(os.environ.get("OMP_NUM_THREADS", "1") or 1), seed=0)
    rows = []
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        # BOS as the model's own tokenizer adds it (Gemma: yes; Qwen2: no); the GGUF's add_bos flag
        # is what a llama.cpp user gets, checked by the tokenizer metadata tests
        add_bos = tokenizer.bos_token_id is not None and ids[:1] == [tokenizer.bos_token_id]
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        llm.reset()
        llm.eval(ids)
        got = np.array(llm.scores[:len(ids)], dtype=np.float32)
        rows.append({**_compare(_reference(model, ids), got), "ids_identical": theirs == ids})
    if hasattr(llm, "close"):
        llm.close()
    return _summary(rows)


def check_export(gguf_file: Path, model, tokenizer, texts=KOREAN_PROBES) -> dict:
    """Both checks; written as `<file>.check.json` beside the export by the CLI."""
    return {"file": str(gguf_file), "transformers": check_transformers(gguf_file, model, tokenizer, texts),
            "llama_cpp": check_llama_cpp(gguf_file, model, tokenizer, texts)}


def brief(check: dict) -> str:
    """One line per reader, for the terminal."""
    lines = []
    for reader in ("transformers", "llama_cpp"):
        r = check[reader]
        if "skipped" in r:
            lines.append(f"  {reader}: skipped ({r['skipped']})")
        else:
            lines.append(f"  {reader}: max |dlogit| {r['max_abs_dlogit']:.4g}, argmax agreement "
                         f"{100 * r['argmax_agree']:.1f}% over {r['positions']} positions, Korean token ids "
                         f"{'identical' if r['token_ids_identical'] else 'DIFFERENT'}")
    return "\n".join(lines)


def write_check(check: dict, path: Path) -> None:
    Path(path).write_text(json.dumps(check, indent=2, ensure_ascii=False), encoding="utf-8")
