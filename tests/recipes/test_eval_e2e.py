"""Eval recipe end to end on tiny models through the CLI: counts add up, base and adapter are both
evaluable (and differ), the SFT run's compute.json equals the FLOP formula × tokens."""
import json
from pathlib import Path

import pytest

from recipes.cli import main


EVAL_CFG = "eval/tiny_mcqa_finance.yaml"


def cli(args: list[str]) -> int:
    """The kdtune CLI in this process: saves a Python + torch start-up per call."""
    return main([str(a) for a in args])


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check_counts(ev: dict, n: int) -> None:
    ov = ev["overall"]
    assert ov["n"] == ev["n"] == n
    assert sum(c["n"] for c in ev["per_category"].values()) == n
    assert sum(c["correct"] for c in ev["per_category"].values()) == ov["correct"]
    assert ov["accuracy"] == pytest.approx(ov["correct"] / n)
    lo, hi = ov["ci95"]
    assert 0.0 <= lo <= ov["accuracy"] <= hi <= 1.0
    assert ev["compute"]["total_flops"] > 0 and ev["compute"]["seconds"] > 0


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft")
    assert cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=4", "train.lr=3e-2",
                "train.save_every=0", "data.max_seq_len=128", f"output.dir={out}", "output.name=r"]) == 0
    return out / "r"


def test_sft_compute_json_is_flops_per_token_times_tokens(lora_run):
    from transformers import AutoConfig
    from trainers.models.arch_spec import ArchSpec
    from trainers.compute.flops import train_flops_per_token
    from trainers.models.model_loading import resolve_model_source
    comp = read(lora_run / "compute.json")
    arch = ArchSpec.from_hf_config(AutoConfig.from_pretrained(resolve_model_source("tiny:qwen2")[0]))
    per_token = train_flops_per_token(arch, comp["seq_len_mean"], "lora", lora_r=8, lora_targets=None,
                                      grad_checkpointing=False)
    metrics = [json.loads(x) for x in (lora_run / "metrics.jsonl").read_text().splitlines()]
    tokens = sum(r["tokens"] for r in metrics if "tokens" in r)
    targets = sum(r["targets"] for r in metrics if "targets" in r)
    assert comp["tokens"] == tokens > targets == comp["target_tokens"] > 0
    assert comp["flops_per_token"]["total"] == per_token.total
    # blocks on every input token, the output head (4·V·d for LoRA) only on trained tokens
    assert per_token.head == 4 * arch.vocab_size * arch.hidden_size
    expected = (per_token.total - per_token.head) * tokens + per_token.head * targets
    assert comp["total_flops"] == expected
    assert comp["pflops"] == pytest.approx(expected / 1e15)
    # on CPU: core-seconds priced, a measured per-core peak, MFU a real fraction, threads recorded
    assert comp["seconds_basis"].startswith("process CPU time") and comp["wall_seconds"] > 0
    assert comp["peak_source"].startswith("calibrated") and 0 < comp["mfu"] <= 1
    assert comp["threads"] >= 1 and comp["threads_reason"]
    assert comp["cost_krw"] == pytest.approx(comp["device_hours"] * comp["price_krw_per_hour"])
    assert comp["energy_J"] is None and "cpu" in comp["energy_reason"]   # absent, never invented
    assert all(r.get("mfu") is not None for r in metrics if "loss" in r)


def test_base_and_adapter_are_both_evaluable(lora_run, tmp_path):
    common = ["run", "eval", "--config", EVAL_CFG, "eval.n=12", "eval.keep_outputs=12"]
    assert cli(common + [f"output.dir={tmp_path}", "output.name=base"]) == 0
    assert cli(common + [f"run={lora_run}"]) == 0
    assert cli(common + [f"adapter={lora_run / 'adapter'}", f"output.dir={tmp_path}", "output.name=ad"]) == 0

    ev_base, ev_run, ev_ad = (read(p / "eval.json") for p in (tmp_path / "base", lora_run, tmp_path / "ad"))
    for ev in (ev_base, ev_run, ev_ad):
        check_counts(ev, 12)
    assert ev_run["evaluated"]["adapter"].endswith("adapter")
    # the eval-only run bills its own compute as "eval"; the trained run keeps its training compute.json
    assert read(tmp_path / "base" / "compute.json")["phase"] == "eval"
    assert read(lora_run / "compute.json")["phase"] == "train"
    # the adapter changes the option scores; loading it by run dir or by path gives the same scores
    s_base, s_run, s_ad = ([v for e in ev["examples"] for v in e["scores"]] for ev in (ev_base, ev_run, ev_ad))
    assert len(s_run) == 48 and s_run == pytest.approx(s_ad, rel=1e-5)
    assert max(abs(a - b) for a, b in zip(s_base, s_run)) > 1e-3
    # an unmerged adapter costs extra forward FLOPs
    assert ev_run["compute"]["total_flops"] > ev_base["compute"]["total_flops"]


def test_generative_eval_on_synthetic_tasks_counts_missing(tmp_path):
    assert cli(["run", "eval", "--config", "eval/tiny_synth_finance.yaml", "eval.n=8",
                "eval.max_new_tokens=6", f"output.dir={tmp_path}", "output.name=g"]) == 0
    ev = read(tmp_path / "g" / "eval.json")
    check_counts(ev, 8)
    assert set(ev["per_category"]) == {"compound_interest", "deposit_interest", "loan_payment", "vat"}
    # 6 tokens of a random model never close </think>: every answer is missing and counted wrong
    assert ev["missing"] == 8 and ev["overall"]["correct"] == 0 and ev["truncated"] == 8
    assert all(e["source"] == "unclosed-think" for e in ev["examples"])
    assert ev["generated_tokens"] == 48 == ev["compute"]["tokens"]
    assert "mean_share" in ev["language"]


def test_bad_dataset_is_a_clear_error(capsys):
    assert cli(["run", "eval", "--config", EVAL_CFG, "eval.dataset=builtin:mcqa/nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "finance" in err      # names the bad set and the shipped ones


def test_adapter_flops_read_from_modules_match_the_formula(lora_run):
    from recipes.eval import load_model
    from trainers.config.sections import ModelSection
    from trainers.evaluation.runner import adapter_forward
    from trainers.compute.flops import adapter_forward_flops_per_token
    from trainers.compute.metering import arch_of
    model, _ = load_model(ModelSection(path="tiny:qwen2"), None, lora_run / "adapter")
    assert adapter_forward(model) == adapter_forward_flops_per_token(arch_of(model), 8, None) > 0
