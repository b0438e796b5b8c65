"""GGUF export read back by transformers' own GGUF reader and by llama.cpp (llama-cpp-python, skipped
when absent), tools kdtune did not write: logits and Korean token ids against the exported model;
the per-family value transforms checked on the stored tensors; the models and tokenizers a GGUF
cannot describe refused with a UserError."""
import numpy as np
import pytest

from trainers.errors import UserError
from trainers.serving.gguf_check import check_llama_cpp, check_transformers, llama_cpp_available
from trainers.serving.gguf_export import write_gguf

pytest.importorskip("gguf")

# Measured on these tiny models (docs/export.md): f16 <= 1.6e-3, q8_0 <= 4.0e-2 max |dlogit|
# (Gemma multiplies embeddings by sqrt(hidden), which scales the rounding of q8_0 blocks).
TOLERANCE = {"f16": 5e-3, "q8_0": 8e-2}
LLAMA_CPP_TOLERANCE = {"f16": 2e-2, "q8_0": 1e-1}


@pytest.fixture(params=[(a, d) for a in ("qwen2", "llama", "gemma3") for d in ("f16", "q8_0")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def exported(request, tiny_models, tmp_path):
    """(model, tokenizer, GGUF path, dtype, summary) for one tiny architecture and dtype."""
    arch, dtype = request.param
    model, tok = tiny_models[arch]
    out = tmp_path / f"{arch}.gguf"
    return model, tok, out, dtype, write_gguf(model, tok, out, dtype, name=f"tiny {arch}")


def test_transformers_reads_back_the_exported_model(exported, tmp_path):
    model, tok, out, dtype, summary = exported
    assert summary["vocab_size"] == len(tok) and summary["tokenizer_model"] == "gpt2"
    assert summary["tensors_by_type"].get("Q8_0" if dtype == "q8_0" else "F16", 0) > 0
    r = check_transformers(out, model, tok)
    assert r["token_ids_identical"], [p for p in r["probes"] if not p["ids_identical"]]
    assert r["max_abs_dlogit"] < TOLERANCE[dtype]
    if dtype == "f16":
        assert r["argmax_agree"] >= 0.99
    assert not list(tmp_path.glob("*.tmp*"))            # written atomically


@pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python not installed (the serving extra)")
def test_llama_cpp_reads_the_export_as_transformers_computes_it(exported):
    """llama.cpp itself: its tokenizer on Korean, its kernels on our ids (f16 matmuls, its own rope
    and softmax, hence the wider tolerance, docs/export.md)."""
    model, tok, out, dtype, _ = exported
    r = check_llama_cpp(out, model, tok)
    assert r["token_ids_identical"], [p for p in r["probes"] if not p["ids_identical"]]
    assert r["max_abs_dlogit"] < LLAMA_CPP_TOLERANCE[dtype]
    if dtype == "f16":
        assert r["argmax_agree"] >= 0.99


def _tensors(path) -> dict:
    import gguf
    reader = gguf.GGUFReader(str(path))
    return {t.name: np.array(t.data) for t in reader.tensors}


def test_gemma_norms_stored_as_one_plus_w_and_tied_head_not_written(tiny_models, tmp_path):
    model, tok = tiny_models["gemma3"]
    out = write_gguf(model, tok, tmp_path / "g.gguf", "f16", name="g")["file"]
    stored = _tensors(out)
    sd = model.state_dict()
    for hf, gg in [("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"),
                   ("model.layers.5.self_attn.q_norm.weight", "blk.5.attn_q_norm.weight"),
                   ("model.layers.3.post_feedforward_layernorm.weight", "blk.3.post_ffw_norm.weight"),
                   ("model.norm.weight", "output_norm.weight")]:
        np.testing.assert_allclose(stored[gg], sd[hf].numpy() + 1.0, rtol=0, atol=1e-6)
    assert "output.weight" not in stored and "token_embd.weight" in stored


def test_llama_qk_rows_permuted_per_head_and_qwen_biases_kept(tiny_models, tmp_path):
    model, tok = tiny_models["llama"]
    stored = _tensors(write_gguf(model, tok, tmp_path / "l.gguf", "f16", name="l")["file"])
    q = model.state_dict()["model.layers.0.self_attn.q_proj.weight"].numpy()
    heads, half = model.config.num_attention_heads, q.shape[0] // model.config.num_attention_heads // 2
    # naive reference: within each head, row j of the first half and row j of the second half
    # become neighbours (2j, 2j+1), as llama.cpp's interleaved rotary expects
    expect = np.concatenate([np.stack([q[h * 2 * half + j], q[h * 2 * half + half + j]])
                             for h in range(heads) for j in range(half)])
    np.testing.assert_allclose(stored["blk.0.attn_q.weight"], expect.astype(np.float16))
    qwen, qtok = tiny_models["qwen2"]
    stored = _tensors(write_gguf(qwen, qtok, tmp_path / "q.gguf", "f16", name="q")["file"])
    np.testing.assert_allclose(stored["blk.1.attn_k.bias"], qwen.state_dict()["model.layers.1.self_attn.k_proj.bias"].numpy())
    assert "output.weight" in stored            # untied head written


def test_shipped_tiny_gemma3_query_scale_is_refused(tmp_path):
    from transformers import AutoModelForCausalLM

    from trainers.models.model_builder import tokenizer_loader
    from trainers.models.tiny_model import ensure_tiny_model
    src = ensure_tiny_model("gemma3")
    model = AutoModelForCausalLM.from_pretrained(src)
    with pytest.raises(UserError, match="query scale"):
        write_gguf(model, tokenizer_loader(str(src)).from_pretrained(str(src)), tmp_path / "x.gguf", "f16", name="x")
    assert not list(tmp_path.iterdir())           # nothing half-written


def test_pre_tokenizer_llama_cpp_cannot_name_is_refused(tiny_models, tmp_path):
    import copy

    from tokenizers import Regex, pre_tokenizers
    model, tok = tiny_models["qwen2"]
    odd = copy.deepcopy(tok)
    odd.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r"\d+|\D+"), behavior="isolated"), pre_tokenizers.ByteLevel(use_regex=False)])
    with pytest.raises(UserError, match="no name for"):
        write_gguf(model, odd, tmp_path / "x.gguf", "f16", name="x")
    assert not list(tmp_path.iterdir())


def test_vocab_model_mismatch_and_bad_dtype_are_user_errors(tiny_models, tmp_path):
    model, tok = tiny_models["qwen2"]
    with pytest.raises(UserError, match="--dtype"):
        write_gguf(model, tok, tmp_path / "x.gguf", "q4_k", name="x")
    with pytest.raises(UserError, match="does not exist"):
        write_gguf(model, tok, tmp_path / "nowhere" / "x.gguf", "f16", name="x")
