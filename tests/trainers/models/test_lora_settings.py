"""The LoRA section reaches the built model: the adapter adds (alpha / r)·B·A·x to each target
layer — not alpha·B·A·x — and lora.dropout is the dropout peft applies to the adapter's input."""
import pytest
import torch

from trainers.config import load_config
from trainers.models.model_builder import build_model


def lora_layers(model):
    from peft.tuners.lora import LoraLayer
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]
    assert layers, "no LoRA layer in the built model"
    return layers


def build(overrides):
    cfg = load_config("smoke/tiny_lora.yaml", overrides)
    torch.manual_seed(0)
    return build_model(cfg.model, cfg.lora, cfg.quant, torch.float32, torch.device("cpu"), False).model


def test_adapter_output_is_scaled_by_alpha_over_r():
    # r=4, alpha=12: scale 3. The bug "alpha instead of alpha/r" would give 12 (4x too large).
    model = build(["lora.r=4", "lora.alpha=12", "lora.dropout=0.0"]).eval()
    g = torch.Generator().manual_seed(1)
    for name, layer in lora_layers(model):
        with torch.no_grad():
            layer.lora_B["default"].weight.copy_(torch.randn(layer.lora_B["default"].weight.shape, generator=g))
        x = torch.randn(3, layer.in_features, generator=g)
        A, B = layer.lora_A["default"].weight, layer.lora_B["default"].weight
        with torch.no_grad():
            delta = layer(x) - layer.base_layer(x)
            naive = 3.0 * x @ A.T @ B.T                  # (alpha / r) · B A x, written out
        torch.testing.assert_close(delta, naive, rtol=1e-5, atol=1e-5, msg=name)


@pytest.mark.parametrize("p", [0.0, 0.17])
def test_lora_dropout_is_the_configured_probability(p):
    model = build([f"lora.dropout={p}"])
    for name, layer in lora_layers(model):
        drop = layer.lora_dropout["default"]
        if p == 0.0:
            assert isinstance(drop, torch.nn.Identity), name   # peft's no-op for p = 0
        else:
            assert isinstance(drop, torch.nn.Dropout) and drop.p == pytest.approx(p), name
    # and it acts: in train mode two forwards of the same input differ, in eval mode they agree
    if p:
        _, layer = lora_layers(model)[0]
        with torch.no_grad():
            layer.lora_B["default"].weight.normal_(0, 1.0)
        x = torch.randn(2, layer.in_features)
        layer.train()
        assert not torch.equal(layer(x), layer(x))
        layer.eval()
        torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
