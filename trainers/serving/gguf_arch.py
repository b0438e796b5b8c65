"""How a transformers causal LM becomes GGUF tensors and hyper-parameters, per architecture.

Tensor names and metadata keys come from the gguf package's own maps (MODEL_ARCH, TensorNameMap,
GGUFWriter's add_* methods). What this module decides is what llama.cpp's converter does to the
values of each family kdtune trains, so that llama.cpp computes what transformers computes:
  * Llama: llama.cpp rotates interleaved pairs (GPT-J style) where transformers rotates halves, so
    the q/k rows are permuted; transformers' GGUF reader permutes them back.
  * Gemma 3: transformers' RMSNorm scales by (1 + w); llama.cpp's by w, so every *norm.weight is
    stored as 1 + w (transformers' reader subtracts the 1 again).
  * Qwen2: the q/k/v biases travel as blk.N.attn_{q,k,v}.bias.
Tied embeddings write no output.weight: llama.cpp then reads the output projection from token_embd.
What a GGUF cannot say (Gemma 3's local/global pattern is fixed at 5:1 and its query scale at
1/sqrt(head_dim) in llama.cpp; rope scalings other than Llama 3's) is refused, not written wrong.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trainers.errors import UserError


@dataclass(frozen=True)
class Arch:
    gguf_name: str          # gguf.MODEL_ARCH member name
    permute_qk: bool        # Llama's rotary layout (see module docstring)
    norm_offset: float      # added to every *norm.weight (Gemma's 1 + w)


ARCHS = {"qwen2": Arch("QWEN2", False, 0.0), "llama": Arch("LLAMA", True, 0.0),
         "gemma3_text": Arch("GEMMA3", False, 1.0)}
DTYPES = ("f16", "q8_0")


def arch_of(config) -> Arch:
    arch = ARCHS.get(config.model_type)
    if arch is None:
        raise UserError(f"kdtune exports GGUF for {', '.join(ARCHS)} models; this run's model is "
                        f"'{config.model_type}'. Serve it with transformers or vLLM (the merged/ directory).")
    return arch


def model_arch(arch: Arch):
    import gguf
    return gguf.MODEL_ARCH[arch.gguf_name]


def _rope(config, layer_type: str | None = None) -> dict:
    params = getattr(config, "rope_parameters", None) or {"rope_theta": getattr(config, "rope_theta", 10000.0)}
    if layer_type is not None and layer_type in params:
        params = params[layer_type]
    return params


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def write_hparams(w, config, arch: Arch) -> None:
    """The shape and attention settings llama.cpp reads for this architecture."""
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_block_count(config.num_hidden_layers)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    hd = head_dim(config)
    if arch.gguf_name == "GEMMA3":
        _check_gemma3(config)
        w.add_rope_freq_base(_rope(config, "full_attention")["rope_theta"])
        w.add_key_length(hd)
        w.add_value_length(hd)
        w.add_sliding_window(config.sliding_window)
        if getattr(config, "final_logit_softcapping", None):
            w.add_final_logit_softcapping(config.final_logit_softcapping)
        return
    rope = _rope(config)
    w.add_rope_freq_base(rope["rope_theta"])
    if rope.get("rope_type", "default") not in ("default", "llama3"):
        raise UserError(f"rope scaling '{rope['rope_type']}' is not exported to GGUF by kdtune (default and "
                        f"llama3 are); serve this model with transformers or vLLM")
    if hd != config.hidden_size // config.num_attention_heads:
        w.add_key_length(hd)
        w.add_value_length(hd)
    if arch.gguf_name == "LLAMA":
        w.add_rope_dimension_count(hd)
        w.add_vocab_size(config.vocab_size)


def _check_gemma3(config) -> None:
    """llama.cpp's Gemma 3 assumes what the GGUF does not record: refuse a model that differs."""
    n = config.num_hidden_layers
    want = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n)]
    problems = []
    if list(getattr(config, "layer_types", want)) != want:
        problems.append("its local/global layer pattern is not Gemma 3's five-to-one")
    if getattr(config, "query_pre_attn_scalar", head_dim(config)) != head_dim(config):
        problems.append("its query scale is not 1/sqrt(head_dim)")
    if getattr(config, "attn_logit_softcapping", None):
        problems.append("it caps attention logits")
    for kind in ("full_attention", "sliding_attention"):
        rope = _rope(config, kind)
        if rope.get("rope_type", "default") != "default":
            problems.append(f"its {kind} layers use '{rope['rope_type']}' rope scaling")
    if _rope(config, "sliding_attention").get("rope_theta", 10000.0) != 10000.0:
        problems.append("its local layers' rope base is not 10000")
    if problems:
        raise UserError("this Gemma 3 model cannot be written as a GGUF llama.cpp reads the same way: "
                        + "; ".join(problems) + ". Serve it with transformers or vLLM (the merged/ directory).")


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """transformers' half-split rotary rows -> llama.cpp's interleaved pairs, head by head."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(config) -> np.ndarray | None:
    """Llama 3.x's frequency-dependent rope scaling as llama.cpp takes it: one divisor per rotary
    frequency, in the rope_freqs tensor (the GGUF has no key for it)."""
    rope = _rope(config)
    if rope.get("rope_type") != "llama3":
        return None
    hd, base = head_dim(config), rope["rope_theta"]
    factor, lo, hi = rope["factor"], rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old = rope["original_max_position_embeddings"]
    out = []
    for i in range(0, hd, 2):
        wavelen = 2 * math.pi * base ** (i / hd)
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def gguf_tensors(state_dict: dict, config, arch: Arch):
    """(GGUF name, float32 array) for every weight llama.cpp needs, transformed as above."""
    import gguf
    names = gguf.get_tensor_name_map(model_arch(arch), config.num_hidden_layers)
    tied = getattr(config, "tie_word_embeddings", False)
    for name, tensor in state_dict.items():
        if name == "lm_head.weight" and tied:
            continue
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise UserError(f"no GGUF name for the {arch.gguf_name.lower()} tensor '{name}' in the gguf "
                            f"package's map; this model has a part llama.cpp does not know")
        data = tensor.detach().float().cpu().numpy()
        if arch.norm_offset and name.endswith("norm.weight"):
            data = data + arch.norm_offset
        if arch.permute_qk and name.endswith("self_attn.q_proj.weight"):
            data = _permute(data, config.num_attention_heads)
        elif arch.permute_qk and name.endswith("self_attn.k_proj.weight"):
            data = _permute(data, config.num_key_value_heads)
        yield target, data
    factors = llama3_rope_factors(config)
    if factors is not None:
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors


def stored(data: np.ndarray, dtype: str):
    """(array as stored, its GGML type): matrices in f16 or q8_0 (rows of 32-value blocks; a matrix
    whose rows do not divide into blocks stays f16), vectors (norms, biases) in f32 as llama.cpp keeps them."""
    import gguf
    if data.ndim < 2:
        return data.astype(np.float32), gguf.GGMLQuantizationType.F32
    if dtype == "q8_0" and data.shape[-1] % 32 == 0:
        q = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(data, q), q
    return data.astype(np.float16), gguf.GGMLQuantizationType.F16
