"""The CUDA-only paths, each checked by numbers: the liger fused loss against the torch one, bf16
autocast and fp16 + GradScaler training (loss falls, the scaler state is checkpointed), the 8-bit
and paged optimizers, QLoRA with NF4 weights on the GPU. Marked `gpu`: skipped without CUDA
(tests/conftest.py), run as part of the plain `pytest` command wherever a GPU exists."""
import json
from pathlib import Path

import pytest
import torch

from tests.helpers import run_cli

pytestmark = pytest.mark.gpu

FAST = ["train.max_steps=8", "train.lr=5e-3", "data.max_seq_len=128", "eval.max_batches=1"]


def train(tmp_path: Path, name: str, *overrides: str, config: str = "smoke/tiny_lora.yaml") -> Path:
    proc = run_cli(["run", "sft", "--config", config, *FAST, *overrides,
                    f"output.dir={tmp_path}", f"output.name={name}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp_path / name


def losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in sorted(rows, key=lambda r: r["step"]) if "loss" in r]


def learned(run: Path) -> list[float]:
    got = losses(run)
    assert len(got) == 8 and all(torch.isfinite(torch.tensor(got)))
    assert sum(got[-3:]) / 3 < sum(got[:3]) / 3, got    # the same batches seen again score better
    return got


def test_liger_fused_loss_matches_the_torch_backend():
    pytest.importorskip("liger_kernel")
    from trainers.losses.chunked_ce import linear_cross_entropy
    g = torch.Generator(device="cuda").manual_seed(0)
    hidden = torch.randn(2, 64, 128, device="cuda", generator=g, dtype=torch.bfloat16, requires_grad=True)
    weight = (torch.randn(1000, 128, device="cuda", generator=g) * 0.05).to(torch.bfloat16).requires_grad_()
    labels = torch.randint(0, 1000, (2, 64), device="cuda", generator=g)
    labels[0, :5] = -100
    results = {}
    for backend in ("torch", "liger"):
        hidden.grad = weight.grad = None
        loss, count = linear_cross_entropy(hidden, weight, labels, backend=backend, chunk_size=32)
        loss.backward()
        results[backend] = (loss.detach().float(), int(count), hidden.grad.float(), weight.grad.float())
    (lt, ct, ht, wt), (ll, cl, hl, wl) = results["torch"], results["liger"]
    assert ct == cl == 2 * 64 - 5
    torch.testing.assert_close(ll, lt, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(hl, ht, rtol=5e-2, atol=5e-3)
    torch.testing.assert_close(wl, wt, rtol=5e-2, atol=5e-3)


def test_bf16_autocast_trains(tmp_path):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    run = train(tmp_path, "bf16", "train.precision=bf16")
    learned(run)
    assert json.loads((run / "manifest.json").read_text())["precision"] == "bf16"


def test_fp16_with_grad_scaler_trains_and_checkpoints_the_scaler(tmp_path):
    run = train(tmp_path, "fp16", "train.precision=fp16", "train.save_every=4")
    learned(run)
    assert json.loads((run / "manifest.json").read_text())["precision"] == "fp16"
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    assert ckpts and all((c / "scaler.pt").is_file() for c in ckpts)
    scale = torch.load(ckpts[-1] / "scaler.pt")["scale"]
    assert float(scale) > 0 and torch.isfinite(torch.as_tensor(scale))
    # trainable LoRA weights stay fp32 under fp16 autocast (GradScaler cannot unscale fp16 grads)
    from safetensors import safe_open
    with safe_open(str(run / "adapter" / "adapter_model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F32"}


@pytest.mark.parametrize("optimizer", ["adamw_8bit", "paged_adamw_8bit"])
def test_8bit_and_paged_optimizers_train(tmp_path, optimizer):
    import bitsandbytes as bnb
    from trainers.optim import make_optimizer
    run = train(tmp_path, optimizer, f"train.optimizer={optimizer}")
    learned(run)
    # and the optimizer really is the bitsandbytes one, with 8-bit state on the GPU
    p = torch.nn.Parameter(torch.randn(4096, device="cuda"))
    opt = make_optimizer([p], optimizer, lr=1e-3, weight_decay=0.0)
    expected = bnb.optim.PagedAdamW8bit if optimizer == "paged_adamw_8bit" else bnb.optim.AdamW8bit
    assert isinstance(opt, expected)
    p.grad = torch.randn_like(p)
    before = p.detach().clone()
    opt.step()
    assert not torch.equal(before, p.detach())
    assert any(t.dtype == torch.uint8 for t in opt.state[p].values() if torch.is_tensor(t))


def test_qlora_on_cuda_keeps_nf4_weights_on_the_gpu_and_trains(tmp_path):
    import bitsandbytes as bnb
    from trainers.config import load_config
    from trainers.models.model_builder import build_model
    cfg = load_config("smoke/tiny_qlora.yaml")
    built = build_model(cfg.model, cfg.lora, cfg.quant, torch.bfloat16 if torch.cuda.is_bf16_supported()
                        else torch.float16, torch.device("cuda"), True)
    quantised = [m for m in built.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert quantised and all(m.weight.device.type == "cuda" and m.weight.dtype == torch.uint8 for m in quantised)
    assert all(p.device.type == "cuda" for p in built.model.parameters() if p.requires_grad)
    del built
    torch.cuda.empty_cache()
    run = train(tmp_path, "qlora", config="smoke/tiny_qlora.yaml")
    learned(run)
    assert json.loads((run / "manifest.json").read_text())["method"] == "qlora"
