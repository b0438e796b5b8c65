"""train.strategy=fsdp (PyTorch FSDP2 through accelerate) on CPU, 2 processes over gloo, through the
real CLI: per-step losses and gradient norms equal DDP's (LoRA, full fine-tune, QLoRA); a run killed
after a checkpoint resumes to the uninterrupted run's losses and token count; adapter, merged model and
full fine-tune are exported whole (peft / transformers load them, and they equal DDP's)."""
import json
from pathlib import Path

import pytest
import torch

from tests.helpers import kill_after_first_checkpoint, run_cli
from tests.recipes.test_sft_e2e import losses

TWO = {"OMP_NUM_THREADS": "1"}
# gradient checkpointing and LoRA dropout on (what real configs use); 5 eval examples, so with
# 2 processes x micro-batch 2 the second rank runs out of evaluation batches first (sharded
# forwards must stay matched across ranks)
LORA = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=8", "train.save_every=2",
        "train.grad_accum=2", "train.micro_batch_size=2", "train.lr=1e-2", "lora.dropout=0.1",
        "train.gradient_checkpointing=true", "data.max_seq_len=128", "data.eval_fraction=0.03",
        "eval.every_steps=4", "eval.max_batches=3", "--nproc", "2"]
STEPS = 8


def _run(args: list[str], tmp_path: Path, name: str) -> Path:
    proc = run_cli(args + [f"output.dir={tmp_path}", f"output.name={name}"], cwd=tmp_path, env_extra=TWO)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return tmp_path / name


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def assert_same_curve(a: Path, b: Path, key: str, **tol) -> float:
    """Equal per-step `key` in both runs (same steps logged); returns the largest difference."""
    x, y = losses(a, key), losses(b, key)
    assert sorted(x) == sorted(y) and x, (x, y)
    for step in x:
        assert y[step] == pytest.approx(x[step], **tol), (key, step)
    return max(abs(x[s] - y[s]) for s in x)


def test_fsdp_lora_equals_ddp_resumes_and_exports_whole(tmp_path):
    ddp = _run(LORA, tmp_path, "ddp")
    fsdp = _run(LORA + ["train.strategy=fsdp", "output.merge=true"], tmp_path, "fsdp")
    assert _manifest(fsdp)["sharded"] is True and _manifest(ddp)["sharded"] is False
    assert _manifest(fsdp)["world_size"] == 2
    diff = assert_same_curve(ddp, fsdp, "loss", abs=1e-4)
    assert_same_curve(ddp, fsdp, "grad_norm", rel=1e-4)
    assert_same_curve(ddp, fsdp, "eval_loss", abs=1e-4)   # the uneven evaluation batches included
    print(f"FSDP vs DDP max per-step loss diff: {diff:.3g}")

    # pre-empted after a checkpoint, resumed under FSDP: the uninterrupted run's curve and tokens
    killed = tmp_path / "killed"
    kill_after_first_checkpoint(LORA + ["train.strategy=fsdp", f"output.dir={tmp_path}", "output.name=killed"],
                                tmp_path, killed)
    _run(LORA + ["train.strategy=fsdp", "train.resume=auto"], tmp_path, "killed")
    assert _manifest(killed)["result"]["resumed_from"] >= 2
    resume_diff = assert_same_curve(fsdp, killed, "loss", rel=1e-6, abs=1e-7)
    counts = [json.loads((r / "compute.json").read_text()) for r in (fsdp, killed)]
    assert [c["tokens"] for c in counts] == [counts[0]["tokens"]] * 2 and counts[0]["tokens"] > 0
    assert counts[1]["target_tokens"] == counts[0]["target_tokens"]
    print(f"FSDP resume vs uninterrupted max per-step loss diff: {resume_diff:.3g}")

    # the adapter was gathered whole: peft loads it, it equals DDP's, and it changed the model
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from trainers.models.model_loading import resolve_model_source
    base_dir, _ = resolve_model_source("tiny:qwen2")

    def base():
        return AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()

    ids = torch.randint(0, 2048, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = base()(input_ids=ids).logits
        by_ddp = PeftModel.from_pretrained(base(), str(ddp / "adapter")).eval()(input_ids=ids).logits
        by_fsdp = PeftModel.from_pretrained(base(), str(fsdp / "adapter")).eval()(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(fsdp / "merged", dtype=torch.float32).eval()(input_ids=ids).logits
    assert (by_fsdp - plain).abs().max() > 1e-3, "the exported adapter changes nothing"
    torch.testing.assert_close(by_fsdp, by_ddp, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(merged, by_fsdp, rtol=1e-5, atol=1e-5)


def test_fsdp_full_fine_tune_equals_ddp_and_exports_whole(tmp_path):
    full = ["run", "sft", "--config", "smoke/tiny_full.yaml", "train.max_steps=3", "train.save_every=2",
            "train.grad_accum=2", "train.micro_batch_size=2", "data.max_seq_len=96", "eval.max_batches=2",
            "--nproc", "2"]
    ddp = _run(full, tmp_path, "ddp")
    fsdp = _run(full + ["train.strategy=fsdp"], tmp_path, "fsdp")
    assert _manifest(fsdp)["sharded"] is True
    assert_same_curve(ddp, fsdp, "loss", abs=1e-4)
    assert_same_curve(ddp, fsdp, "grad_norm", rel=1e-4)
    from safetensors.torch import load_file
    for name in ("model/model.safetensors", "checkpoints/step-0000002/trainable.safetensors"):
        a, b = load_file(str(ddp / name)), load_file(str(fsdp / name))
        assert sorted(a) == sorted(b) and len(a) > 20, name
        for k in a:   # whole tensors, not one rank's shard
            assert a[k].shape == b[k].shape, (name, k)
            torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(fsdp / "model")   # loads as a plain transformers model


def test_fsdp_qlora_shards_the_4bit_base_and_equals_ddp(tmp_path):
    """bitsandbytes 0.50 runs NF4 on CPU, so QLoRA + FSDP is tested here, not only on GPUs. With
    train.strategy=fsdp the packed 4-bit codes are stored as floats, so FSDP2 shards them too
    (accelerate warns and keeps a uint8 base whole on every rank)."""
    qlora = ["run", "sft", "--config", "smoke/tiny_qlora.yaml", "train.max_steps=3", "train.grad_accum=2",
             "train.micro_batch_size=2", "train.save_every=0", "data.max_seq_len=96", "eval.max_batches=2",
             "--nproc", "2"]
    ddp = _run(qlora, tmp_path, "ddp")
    args = qlora + ["train.strategy=fsdp", f"output.dir={tmp_path}", "output.name=fsdp"]
    proc = run_cli(args, cwd=tmp_path, env_extra=TWO)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Excluding from FSDP2 sharding" not in proc.stderr
    fsdp = tmp_path / "fsdp"
    assert _manifest(fsdp)["sharded"] is True and _manifest(fsdp)["method"] == "qlora"
    assert_same_curve(ddp, fsdp, "loss", abs=1e-4)
    assert_same_curve(ddp, fsdp, "grad_norm", rel=1e-4)


def test_fsdp_logit_distillation_equals_ddp(tmp_path):
    """The student (LoRA) is sharded; the frozen teacher stays a whole copy on each rank, run on that
    rank's own micro-batches, so the KD loss and the teacher FLOPs billed are DDP's."""
    distill = ["run", "distill", "--config", "smoke/tiny_distill.yaml", "train.max_steps=3",
               "train.grad_accum=2", "train.micro_batch_size=2", "train.save_every=0", "data.max_seq_len=96",
               "eval.max_batches=2", "--nproc", "2"]
    ddp = _run(distill, tmp_path, "ddp")
    fsdp = _run(distill + ["train.strategy=fsdp"], tmp_path, "fsdp")
    assert _manifest(fsdp)["sharded"] is True and _manifest(ddp)["sharded"] is False
    assert_same_curve(ddp, fsdp, "loss", abs=1e-4)
    assert_same_curve(ddp, fsdp, "grad_norm", rel=1e-4)
    counts = [json.loads((r / "compute.json").read_text()) for r in (ddp, fsdp)]
    assert counts[0]["teacher_flops"] > 0
    assert [c["tokens"] for c in counts] == [counts[0]["tokens"]] * 2
    assert [c["teacher_flops"] for c in counts] == [counts[0]["teacher_flops"]] * 2
