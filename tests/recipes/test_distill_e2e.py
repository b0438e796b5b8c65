"""End-to-end distillation on tiny CPU models through the real CLI: on-the-fly logit KD, the top-k
cache (== on-the-fly restricted to the same k), resume after a kill, the vocabulary check, and
trace generation with rejection sampling."""
import json
from pathlib import Path

import pytest

from tests.helpers import kill_after_first_checkpoint, run_cli

FAST = ["data.max_seq_len=96", "eval.max_batches=2", "data.max_examples=32"]


@pytest.fixture(autouse=True)
def _own_data(tmp_path):
    """Synthetic chats written per test: independent of the shipped files, which may be regenerated."""
    from data_tools.synth import generate
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in generate("finance", 32, seed=0)))
    FAST.append(f"data.path={path}")
    yield
    FAST.pop()


def rows(run: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r}




def test_distill_on_the_fly_and_resume_after_kill(tmp_path):
    common = ["run", "distill", "train.max_steps=12", "train.save_every=4", "train.lr=1e-2",
              "kd.ce_weight=0.25", "kd.temperature=2.0", f"output.dir={tmp_path}", *FAST]
    full = run_cli(common + ["output.name=full"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    manifest = json.loads((tmp_path / "full" / "manifest.json").read_text())
    assert manifest["recipe"] == "distill" and manifest["kd"]["vocab_size"] == 2048
    assert (tmp_path / "full" / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "full" / "compute.json").read_text())["teacher_flops"] > 0   # teacher forwards
    a = rows(tmp_path / "full")
    assert sorted(a) == list(range(1, 13))
    for r in a.values():   # the logged loss is exactly the configured mix of its two parts
        assert r["loss"] == pytest.approx(0.25 * r["ce_sum"] + 0.75 * r["kd_sum"], rel=1e-6)
        assert r["kd_sum"] > 0

    kill_after_first_checkpoint(common + ["output.name=killed"], tmp_path, tmp_path / "killed", timeout=120)
    resumed = run_cli(common + ["output.name=killed", "train.resume=auto"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "killed" / "manifest.json").read_text())["result"]["resumed_from"] >= 4
    b = rows(tmp_path / "killed")
    assert sorted(b) == list(range(1, 13))
    for step in a:
        for key in ("loss", "ce_sum", "kd_sum"):
            assert b[step][key] == pytest.approx(a[step][key], rel=1e-6, abs=1e-7), (step, key)


def test_cache_round_trip_equals_on_the_fly_topk(tmp_path):
    """The cache is built (and resumed) in-process; training from it and from the live teacher
    restricted to the same top-k run through the CLI."""
    from recipes.distill_cache import run as build_cache
    from trainers.config import load_config
    cache = tmp_path / "cache"
    kd = ["kd.topk=16", "kd.temperature=1.5", f"kd.cache_dir={cache}", "cache.shard_size_tokens=300"]
    cfg = load_config("smoke/tiny_distill_cache.yaml", kd + FAST)
    build_cache(cfg, "t")
    index = json.loads((cache / "index.json").read_text())
    assert index["k"] == 16 and index["meta"]["temperature"] == 1.5
    assert index["num_examples"] == index["meta"]["n_train"] + index["meta"]["n_eval"] > 25
    shards = sorted(cache.glob("shard-*.safetensors"))
    assert len(shards) > 2
    (cache / "index.json").unlink()          # what a kill before close() leaves ...
    shards[-1].unlink()                      # ... with the last shard never written
    build_cache(cfg, "t")
    assert 0 < json.loads((cache / "cache_stats.json").read_text())["computed_now"] < index["num_examples"]
    assert json.loads((cache / "index.json").read_text())["examples"] == index["examples"]

    steps = ["train.max_steps=4", "train.save_every=0", f"output.dir={tmp_path}", "kd.temperature=1.5"]
    cached = run_cli(["run", "distill", "--config", "smoke/tiny_distill_cached.yaml", f"kd.cache_dir={cache}",
                      "output.name=cached", *steps, *FAST], cwd=tmp_path)
    assert cached.returncode == 0, cached.stderr[-3000:]
    live = run_cli(["run", "distill", "kd.restrict_topk=16", "output.name=live", *steps, *FAST], cwd=tmp_path)
    assert live.returncode == 0, live.stderr[-3000:]
    c, lv = rows(tmp_path / "cached"), rows(tmp_path / "live")
    assert sorted(c) == sorted(lv) == [1, 2, 3, 4]
    for step in c:   # fp16 storage of the cached log-probs is the only difference
        assert c[step]["kd_sum"] == pytest.approx(lv[step]["kd_sum"], rel=2e-3), step
        assert c[step]["loss"] == pytest.approx(lv[step]["loss"], rel=1e-4), step
    manifest = json.loads((tmp_path / "cached" / "manifest.json").read_text())
    assert manifest["kd"]["cache_dir"] == str(cache) and manifest["kd"]["topk"] == 16



def test_vocabulary_mismatch_points_to_trace_distillation(tmp_path, capsys):
    from recipes.cli import main
    from trainers.models.tiny_model import build_tiny_model
    other = build_tiny_model("llama", tmp_path / "other_vocab", vocab_size=1024)
    code = main(["run", "distill", f"kd.teacher.path={other}", "train.max_steps=2", f"output.dir={tmp_path}", *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "kdtune run traces" in err and "differ in size" in err


def test_traces_cli_stats_add_up_and_resume(tmp_path):
    out = tmp_path / "traces"
    args = ["run", "traces", f"output.dir={out}", "generation.max_new_tokens=12"]
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["prompts"] == 16 and stats["samples"] == 2 * (16 - stats["prompts_too_long"])
    assert stats["kept"] <= stats["verified"] <= stats["samples"]
    assert stats["tokens_generated"] <= stats["samples"] * 12
    assert stats["acceptance_rate"] == pytest.approx(stats["verified"] / stats["samples"])
    lines = (out / "train.jsonl").read_text().splitlines()
    assert len(lines) == stats["kept"]
    first = (out / "train.jsonl").read_text()

    for f in (out / "shards").glob("shard-00001*"):   # a kill before the second shard finished
        f.unlink()
    from recipes.traces import run
    from trainers.config import load_config
    run(load_config("smoke/tiny_traces.yaml", args[2:]), "t")          # resumed in-process
    assert json.loads((out / "stats.json").read_text())["samples"] == stats["samples"]
    assert (out / "train.jsonl").read_text() == first    # per-shard seeds: same samples after resume


def test_smoke_runs_the_shipped_7b_to_1_5b_configs_on_cpu(tmp_path):
    from tests.helpers import ROOT
    proc = run_cli(["run", "distill", "--config", "configs/finance/r1-distill-qwen-7b_to_1.5b_logit_16gb.yaml",
                    "--smoke", f"output.dir={tmp_path}", "data.max_seq_len=96"], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = tmp_path.glob("r1-distill-qwen-7b_to_1.5b_logit_16gb-smoke-*")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["result"]["steps"] == 4 and manifest["kd"]["teacher_4bit"] is True
