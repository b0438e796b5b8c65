"""The exported GGUF loaded by llama.cpp itself (llama-cpp-python, the `serving` extra): it must
tokenise Korean to the merged model's ids and compute its logits — argmax agreement >= 99% for f16.
Skipped cleanly where llama-cpp-python is not installed (it builds llama.cpp from source)."""
import pytest

from trainers.serving.gguf_check import check_llama_cpp
from trainers.serving.gguf_export import write_gguf

pytest.importorskip("gguf")
pytest.importorskip("llama_cpp")

# llama.cpp computes in its own kernels (f16 matmuls, its own softmax/rope): documented in docs/export.md
TOLERANCE = {"f16": 2e-2, "q8_0": 1e-1}


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gemma3"])
@pytest.mark.parametrize("dtype", ["f16", "q8_0"])
def test_llama_cpp_reads_the_export_as_transformers_computes_it(tiny_models, tmp_path, arch, dtype):
    model, tok = tiny_models[arch]
    out = tmp_path / f"{arch}.gguf"
    write_gguf(model, tok, out, dtype, name=f"tiny {arch}")
    r = check_llama_cpp(out, model, tok)
    assert r["token_ids_identical"], [p for p in r["probes"] if not p["ids_identical"]]
    assert r["max_abs_dlogit"] < TOLERANCE[dtype]
    if dtype == "f16":
        assert r["argmax_agree"] >= 0.99
