"""End-to-end SFT on tiny models, on CPU, through the real CLI: run directory, QLoRA, resume after a
kill, merged == adapter, 2 processes == 1 process, --smoke on a shipped real-model config."""
import json
from pathlib import Path

import pytest
import torch

from tests.helpers import ROOT, kill_after_first_checkpoint, run_cli

FAST = ["data.max_seq_len=128", "eval.max_batches=2"]


def losses(run: Path, key: str = "loss") -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in rows if key in r}


def check_run_dir(run: Path, steps: int, method: str) -> dict:
    for name in ("config.yaml", "manifest.json", "metrics.jsonl"):
        assert (run / name).is_file(), name
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method"] == method and manifest["result"]["steps"] == steps
    assert manifest["data"]["train_sha256"] and manifest["versions"]["torch"]
    assert sorted(losses(run)) == list(range(1, steps + 1))
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert (run / "adapter" / "adapter_config.json").is_file()
    ckpts = sorted((run / "checkpoints").glob("step-*"))
    assert ckpts and all((c / "state.json").is_file() and (c / "optimizer.pt").is_file() for c in ckpts)
    return manifest


@pytest.mark.parametrize("config,method", [("smoke/tiny_lora.yaml", "lora"), ("smoke/tiny_qlora.yaml", "qlora")])
def test_sft_writes_the_whole_run_directory(tmp_path, config, method):
    proc = run_cli(["run", "sft", "--config", config, "train.max_steps=8", "train.save_every=3",
                    "train.keep_last=2", f"output.dir={tmp_path}", "output.name=r", *FAST], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = check_run_dir(tmp_path / "r", 8, method)
    assert [c.name for c in sorted((tmp_path / "r" / "checkpoints").glob("step-*"))] == \
        ["step-0000003", "step-0000006"]   # keep_last=2 pruned step 3? no: 3 and 6 are the last two
    assert manifest["precision"] == "fp32"


def test_qlora_really_trains_a_4bit_base(tmp_path):
    from recipes.sft import run  # noqa: F401  (import check)
    from trainers.config import load_config
    from trainers.models.model_builder import build_model
    cfg = load_config("smoke/tiny_qlora.yaml")
    built = build_model(cfg.model, cfg.lora, cfg.quant, torch.float32, torch.device("cpu"), True)
    kinds = {type(m).__name__ for m in built.model.modules()}
    assert "Linear4bit" in kinds
    trainable = {p.dtype for p in built.model.parameters() if p.requires_grad}
    assert trainable == {torch.float32}
    # the non-quantised parts stay in the compute dtype (here fp32 on CPU) and frozen
    assert not any(p.requires_grad for n, p in built.model.named_parameters() if "lora_" not in n)




def test_resume_after_kill_reproduces_uninterrupted_losses(tmp_path):
    common = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=30", "train.save_every=4",
              "train.lr=1e-2", "lora.dropout=0.1", f"output.dir={tmp_path}", *FAST]
    full = run_cli(common + ["output.name=full"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]

    kill_after_first_checkpoint(common + ["output.name=killed"], tmp_path, tmp_path / "killed")

    resumed = run_cli(common + ["output.name=killed", "train.resume=auto"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert manifest["result"]["resumed_from"] >= 4
    a, b = losses(tmp_path / "full"), losses(tmp_path / "killed")
    assert sorted(a) == sorted(b) == list(range(1, 31))
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step


def test_merged_model_equals_base_plus_adapter(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from trainers.models.model_loading import resolve_model_source
    proc = run_cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=6", "train.lr=2e-2",
                    "output.merge=true", f"output.dir={tmp_path}", "output.name=m", *FAST], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    base_dir, _ = resolve_model_source("tiny:qwen2")
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, str(tmp_path / "m" / "adapter")).eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "m" / "merged", dtype=torch.float32).eval()
    ids = torch.randint(0, base.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, m = adapted(input_ids=ids).logits, merged(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()(input_ids=ids).logits
    assert (a - plain).abs().max() > 1e-4, "the adapter changed nothing: training had no effect"
    torch.testing.assert_close(m, a, rtol=1e-5, atol=1e-5)


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    common = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=4", "train.grad_accum=2",
              "train.lr=1e-2", "train.save_every=0", f"output.dir={tmp_path}", *FAST]
    one = run_cli(common + ["train.micro_batch_size=4", "output.name=one"], cwd=tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli(common + ["train.micro_batch_size=2", "output.name=two", "--nproc", "2"], cwd=tmp_path,
                  env_extra={"OMP_NUM_THREADS": "1"})
    assert two.returncode == 0, (two.stdout + two.stderr)[-3000:]
    m2 = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert m2["world_size"] == 2
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-4), step
    # Adam and clipping hide a uniformly mis-scaled gradient from the losses (e.g. the world-size
    # factor dropped from the backward scale halves it); the logged pre-clip norm does not
    a, b = losses(tmp_path / "one", "grad_norm"), losses(tmp_path / "two", "grad_norm")
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=1e-4), step


def test_smoke_runs_a_real_model_config_on_cpu(tmp_path):
    proc = run_cli(["run", "sft", "--config", "configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml", "--smoke",
                    f"output.dir={tmp_path}"], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = tmp_path.glob("r1-distill-qwen-1.5b_qlora_8gb-smoke-*")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["method"] == "qlora" and manifest["result"]["steps"] == 4
    assert manifest["model_source"].endswith(tuple(["qwen2-v1-" + p for p in "0123456789abcdef"])) or \
        "tiny" in manifest["model_source"]


def test_missing_model_is_a_clear_error(tmp_path):
    proc = run_cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", "model.path=nobody/no-such-model",
                    f"output.dir={tmp_path}"], cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nobody/no-such-model" in proc.stderr and "--smoke" in proc.stderr


def test_default_main_job_learns(tmp_path):
    """The README's first command: `kdtune run sft` on the built-in default (tiny model, shipped
    finance chats, CPU) must cut the training loss by at least 30%."""
    proc = run_cli(["run", "sft", f"output.dir={tmp_path}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = tmp_path.glob("tiny_finance-*")
    per_step = losses(run)
    first, last = per_step[1], per_step[max(per_step)]
    assert last <= 0.7 * first, (first, last)
    assert json.loads((run / "manifest.json").read_text())["data"]["train_file"].endswith("finance.jsonl")
