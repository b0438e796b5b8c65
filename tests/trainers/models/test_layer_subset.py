"""Student made by keeping teacher layers: same function as a model built with only those layers,
Gemma 3's sliding/global pattern follows each kept layer, and cached generation still works."""
import pytest
import torch

from trainers.errors import UserError
from trainers.models.layer_subset import evenly_spaced, keep_layers, resolve_keep, shrunk_copy


def tiny_gemma3(layers=6):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=24, sliding_window=4,
                           max_position_embeddings=64, layer_types=None)
    return Gemma3ForCausalLM(cfg).eval()


def tiny_qwen2(layers=4):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return Qwen2ForCausalLM(cfg).eval()


def test_evenly_spaced_keeps_first_and_last():
    assert evenly_spaced(18, 6) == [0, 3, 7, 10, 14, 17]
    assert evenly_spaced(18, 18) == list(range(18))
    assert evenly_spaced(4, 2) == [0, 3]
    with pytest.raises(UserError, match="keep 1..18"):
        evenly_spaced(18, 19)
    with pytest.raises(UserError, match="out of range: \\[7\\]"):
        resolve_keep([0, 7], 6)


@pytest.mark.parametrize("build", [tiny_qwen2, tiny_gemma3])
def test_shrunk_equals_model_built_with_those_layers(build):
    teacher = build()
    keep = [0, 2, teacher.config.num_hidden_layers - 1]
    student, idx = shrunk_copy(teacher, keep)
    assert idx == keep and student.config.num_hidden_layers == 3
    assert teacher.config.num_hidden_layers != 3          # the teacher is untouched
    # reference: a fresh model of 3 layers, weights copied by hand from the kept layers
    ref_cfg = type(teacher.config)(**{**teacher.config.to_dict(), "num_hidden_layers": 3,
                                      **({"layer_types": [teacher.config.layer_types[i] for i in keep]}
                                         if getattr(teacher.config, "layer_types", None) else {})})
    ref = type(teacher)(ref_cfg).eval()
    state = {}
    for k, v in teacher.state_dict().items():
        if ".layers." in k:
            pre, rest = k.split(".layers.", 1)
            i, tail = rest.split(".", 1)
            if int(i) in keep:
                state[f"{pre}.layers.{keep.index(int(i))}.{tail}"] = v
        else:
            state[k] = v
    ref.load_state_dict(state)
    ids = torch.randint(0, 128, (2, 12))
    with torch.no_grad():
        assert torch.allclose(student(ids).logits, ref(ids).logits, atol=1e-5)


def test_gemma_layer_types_follow_kept_layers_and_cache_generation_works():
    teacher = tiny_gemma3(layers=6)
    types = list(teacher.config.layer_types)
    assert types[5] == "full_attention" and types[0] == "sliding_attention"
    student, idx = shrunk_copy(teacher, 3)
    assert idx == [0, 2, 5] or idx == [0, 3, 5]
    assert student.config.layer_types == [types[i] for i in idx]
    assert [l.self_attn.layer_idx for l in student.model.layers] == [0, 1, 2]
    ids = torch.randint(0, 128, (1, 5))
    with torch.no_grad():
        out = student.generate(ids, max_new_tokens=6, do_sample=False)
        # greedy with the KV cache == greedy recomputing the whole prefix every step
        seq = ids
        for _ in range(6):
            nxt = student(seq, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(out, seq)


def test_keep_all_is_identity():
    model = tiny_qwen2()
    ids = torch.randint(0, 128, (1, 8))
    with torch.no_grad():
        before = model(ids).logits
        keep_layers(model, list(range(4)))
        assert torch.allclose(model(ids).logits, before)
