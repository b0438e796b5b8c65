"""QLoRA on CPU at Gemma 3 270M's real layer widths: bitsandbytes NF4 base + peft LoRA, forward and
backward against a plain reference computed from the dequantised weight.

Widths (in -> out): q 640 -> 1024 (4 heads × 256), k/v 640 -> 256, o 1024 -> 640, gate/up
640 -> 2048, down 2048 -> 640. bitsandbytes' CPU 4-bit path has supported only some widths in
some releases, so each real shape is checked, at batch×sequence and at a single decode token.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/models/test_qlora_gemma_shapes.py -q
"""
import pytest
import torch

bnb = pytest.importorskip("bitsandbytes")

SHAPES = {"q_proj": (640, 1024), "k_proj": (640, 256), "v_proj": (640, 256), "o_proj": (1024, 640),
          "gate_proj": (640, 2048), "up_proj": (640, 2048), "down_proj": (2048, 640)}


class Block(torch.nn.Module):
    def __init__(self, name: str, i: int, o: int):
        super().__init__()
        setattr(self, name, torch.nn.Linear(i, o, bias=False))
        self.name = name

    def forward(self, x):
        return getattr(self, self.name)(x)


def nf4(linear: torch.nn.Linear):
    q = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=False, compute_dtype=torch.float32,
                          quant_type="nf4")
    q.weight = bnb.nn.Params4bit(linear.weight.data.clone(), requires_grad=False, quant_type="nf4")
    return q.to("cpu")


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("rows", [(2, 7), (1, 1)])
def test_nf4_lora_matches_dequantised_reference(name, rows):
    from bitsandbytes.functional import dequantize_4bit
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(0)
    i, o = SHAPES[name]
    block = Block(name, i, o)
    original = getattr(block, name).weight.detach().clone()
    setattr(block, name, nf4(getattr(block, name)))
    model = get_peft_model(block, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=[name]))
    layer = getattr(model.base_model.model, name)
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_(0, 0.02)     # B starts at zero; make the adapter matter
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    x = torch.randn(*rows, i)
    y = model(x)
    w = dequantize_4bit(layer.base_layer.weight.data, layer.base_layer.weight.quant_state)
    assert w.shape == (o, i)
    a_ref, b_ref = a.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    ref = x @ w.t() + (x @ a_ref.t()) @ b_ref.t() * (16 / 8)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ref)
    (y * g).sum().backward()
    (ref * g).sum().backward()
    torch.testing.assert_close(a.grad, a_ref.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(b.grad, b_ref.grad, rtol=1e-4, atol=1e-6)
    # NF4 is a 4-bit code: the stored weight is the original within a few percent, not equal
    rel = ((w - original).abs().mean() / original.abs().mean()).item()
    assert 0.01 < rel < 0.2
