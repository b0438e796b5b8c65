"""Tiny models to export: the shipped tiny Qwen2/Llama, and a tiny Gemma 3 that a GGUF can describe."""
import pytest


def _load(path):
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.models.model_builder import tokenizer_loader
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, tokenizer_loader(str(path)).from_pretrained(str(path))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """{"qwen2", "llama", "gemma3"} -> (model, tokenizer). The shipped tiny:gemma3 keeps Gemma's
    query scale 1/sqrt(256) with 32-wide heads, which llama.cpp cannot be told (it uses 1/sqrt(head
    width)); this one has 256-wide heads, so the scale is Gemma's and both readers agree. Six layers,
    window 16: the 5:1 local/global pattern is exercised by the probe texts (longer than 16 tokens)."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from trainers.models.tiny_model import corpus_texts, ensure_tiny_model, train_tokenizer
    models = {arch: _load(ensure_tiny_model(arch)) for arch in ("qwen2", "llama")}
    tok = train_tokenizer(corpus_texts(), 2048, "gemma")
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=6, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=256, intermediate_size=128,
                           sliding_window=16, tie_word_embeddings=True, max_position_embeddings=4096,
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        gemma = Gemma3ForCausalLM(cfg).eval()
        with torch.no_grad():   # norms away from their zero init, so a missing (1 + w) offset would show
            for name, p in gemma.named_parameters():
                if name.endswith("norm.weight"):
                    p.normal_(0, 0.3)
    out = tmp_path_factory.mktemp("gemma3-gguf-faithful")
    gemma.save_pretrained(out)
    tok.save_pretrained(out)
    models["gemma3"] = _load(out)
    return models
