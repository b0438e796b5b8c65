"""Tiny random-weight models of real architectures, with a Korean BPE tokenizer trained in-process.

Smoke configs (`model.path: tiny:qwen2`) and tests use these so nothing is downloaded: the
architecture code paths are the real transformers ones (Qwen2, Llama), only the sizes are small.
The tokenizer is byte-level BPE trained on the shipped Korean instruction data and carries the
DeepSeek-R1 special tokens, so the r1 chat format, `<think>` handling and the chat template work as
they do on the real distills. `tiny:gemma3` stands in for Gemma 3 instead: Gemma's special tokens
and chat template, a head_dim that is not hidden/heads, sliding-window layers next to a global one,
tied embeddings.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from data_tools.atomic import honour_umask
from trainers.errors import UserError

TINY_VERSION = 1
SPECIAL_TOKENS = {
    "bos": "<｜begin▁of▁sentence｜>",
    "eos": "<｜end▁of▁sentence｜>",
    "user": "<｜User｜>",
    "assistant": "<｜Assistant｜>",
    "think": "<think>",
    "end_think": "</think>",
    "pad": "<｜pad｜>",
}
# Keeps <think> in every assistant turn (the training formatter decides what is trained); the
# generation prompt opens a think block as DeepSeek recommends for the R1 distills.
R1_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'] }}<｜end▁of▁sentence｜>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)
GEMMA_SPECIAL_TOKENS = {"pad": "<pad>", "eos": "<eos>", "bos": "<bos>", "unk": "<unk>"}
GEMMA_EXTRA_TOKENS = ["<start_of_turn>", "<end_of_turn>"]
ARCH_SIZES = {  # small but not degenerate: GQA (4 query / 2 kv heads), two blocks
    "qwen2": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=192, tie_word_embeddings=False),
    "llama": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=192, tie_word_embeddings=False),
    # Gemma 3's shape at toy size: 4 query heads / 1 kv head of width 32 (hidden/heads would be 16),
    # tied, and its 5:1 pattern — five sliding-window layers (window 16, shorter than smoke
    # sequences) then a global one. Six layers and the query scale 1/√256, because a GGUF records
    # neither the pattern nor the scale: readers assume Gemma's, so only these survive a GGUF round trip.
    "gemma3": dict(hidden_size=64, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=1,
                   head_dim=32, query_pre_attn_scalar=256, intermediate_size=128, sliding_window=16,
                   tie_word_embeddings=True),
}
SHIPPED_SFT = Path(__file__).resolve().parents[2] / "data_tools" / "shipped" / "sft"


def cache_root() -> Path:
    return Path(os.environ.get("KDTUNE_CACHE", Path.home() / ".cache" / "kdtune"))


def corpus_texts() -> list[str]:
    """Every user/assistant text of the shipped Korean SFT files, in a fixed order."""
    files = sorted(SHIPPED_SFT.glob("*.jsonl"))
    if not files:
        raise UserError(f"no shipped Korean text found under {SHIPPED_SFT}; the package is incomplete")
    texts = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.extend(m["content"] for m in json.loads(line)["messages"])
    return texts


def train_tokenizer(texts: list[str], vocab_size: int = 2048, flavour: str = "r1"):
    """Byte-level BPE on the given texts, wrapped as a transformers fast tokenizer, with the R1
    distills' special tokens and template, or (flavour "gemma") Gemma's: pad 0, eos 1, bos 2."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    if flavour == "gemma":
        from trainers.data.chat_format import GEMMA_CHAT_TEMPLATE
        named, extra, template = GEMMA_SPECIAL_TOKENS, GEMMA_EXTRA_TOKENS, GEMMA_CHAT_TEMPLATE
    else:
        named = {k: SPECIAL_TOKENS[k] for k in ("bos", "eos", "pad")}
        extra = [SPECIAL_TOKENS[k] for k in ("user", "assistant", "think", "end_think")]
        template = R1_CHAT_TEMPLATE
    specials = list(named.values()) + extra if flavour == "gemma" else list(SPECIAL_TOKENS.values())
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **{f"{k}_token": v for k, v in named.items()},
                                   additional_special_tokens=extra)
    fast.chat_template = template
    return fast


def build_tiny_model(arch: str, out_dir: str | Path, seed: int = 0, vocab_size: int = 2048) -> Path:
    """Write a tiny random model of `arch` plus tokenizer to out_dir; returns the directory."""
    import torch
    from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)

    if arch not in ARCH_SIZES:
        raise UserError(f"unknown tiny architecture {arch!r}; choose one of: {', '.join(ARCH_SIZES)}")
    out = Path(out_dir)
    tokenizer = train_tokenizer(corpus_texts(), vocab_size, "gemma" if arch == "gemma3" else "r1")
    config_cls, model_cls = {"qwen2": (Qwen2Config, Qwen2ForCausalLM),
                             "llama": (LlamaConfig, LlamaForCausalLM),
                             "gemma3": (Gemma3TextConfig, Gemma3ForCausalLM)}[arch]
    config = config_cls(vocab_size=len(tokenizer), max_position_embeddings=4096,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, **ARCH_SIZES[arch])
    # Forked RNG: building the cached tiny model inside a run must not shift the run's seeded
    # stream (LoRA init, dropout), or a run that built it would differ from one that found it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if arch == "gemma3":   # as for the converted Gemma: a model turn ends generation like <eos> does
        model.generation_config.eos_token_id = [tokenizer.eos_token_id,
                                                tokenizer.convert_tokens_to_ids("<end_of_turn>")]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "kdtune_tiny.json").write_text(json.dumps({"arch": arch, "seed": seed, "version": TINY_VERSION}))
    return honour_umask(out)   # a shared cache: readable by whoever the umask lets read it


def ensure_tiny_model(arch: str) -> Path:
    """The cached tiny model for `arch`, built on first use (keyed by the shipped corpus hash)."""
    digest = hashlib.sha256("\n".join(corpus_texts()).encode()).hexdigest()[:10]
    target = cache_root() / "tiny" / f"{arch}-v{TINY_VERSION}-{digest}"
    if (target / "kdtune_tiny.json").is_file():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    build_tiny_model(arch, tmp)
    try:
        tmp.rename(target)  # atomic: two processes building at once both end with one complete dir
    except OSError:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return target
