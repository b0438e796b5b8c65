"""compute.json that adds up, through real runs on tiny CPU models: a run killed after a checkpoint
and resumed bills exactly the uninterrupted run's tokens and FLOPs (evaluation and checkpoint time
reported apart); distill-cache and traces record their teacher compute, and the runs that train
from them carry it in.

Run: OMP_NUM_THREADS=1 python -m pytest tests/recipes/test_compute_e2e.py -q
"""
import json
from pathlib import Path

import pytest

from tests.helpers import kill_after_first_checkpoint, run_cli
from trainers.run.records import ComputeRecord, ManifestRecord


def record(path: Path) -> ComputeRecord:
    return ComputeRecord.model_validate(json.loads(path.read_text()))


def test_resumed_compute_equals_uninterrupted(tmp_path):
    common = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=12", "train.save_every=4",
              "eval.every_steps=3", "eval.max_batches=2", "data.max_seq_len=128", f"output.dir={tmp_path}"]
    full = run_cli(common + ["output.name=full"], cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    kill_after_first_checkpoint(common + ["output.name=killed"], tmp_path, tmp_path / "killed")
    resumed = run_cli(common + ["output.name=killed", "train.resume=auto"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((tmp_path / "killed" / "manifest.json").read_text())["result"]["resumed_from"] >= 4

    a, b = record(tmp_path / "full" / "compute.json"), record(tmp_path / "killed" / "compute.json")
    assert (b.tokens, b.target_tokens, b.total_flops, b.model_flops) == \
        (a.tokens, a.target_tokens, a.total_flops, a.model_flops)
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert a.tokens == sum(r["tokens"] for r in rows if "loss" in r)
    assert a.target_tokens == sum(r["targets"] for r in rows if "loss" in r)
    # evaluation (steps 3, 6, 9 and the final one) and checkpoints (4, 8) were timed apart from training
    for rec in (a, b):
        assert rec.seconds > 0 and rec.eval_seconds > 0 and rec.checkpoint_seconds > 0
        assert rec.cost_krw == pytest.approx(rec.seconds / 3600 * rec.price_krw_per_hour)
        assert rec.threads >= 1 and rec.mfu is not None and 0 < rec.mfu <= 1
    manifest = json.loads((tmp_path / "full" / "manifest.json").read_text())
    assert manifest["compute"]["threads"] == a.threads and manifest["compute"]["total_pflops"] == a.pflops


def test_distill_cache_compute_is_carried_into_the_cached_run(tmp_path):
    from recipes.distill_cache import run as build_cache
    from trainers.config import load_config
    from trainers.distill.distill_setup import load_distill_data, load_teacher
    from trainers.compute.flops import sequence_forward_flops
    from trainers.compute.metering import arch_of
    from trainers.models.model_builder import load_tokenizer
    from trainers.data.chat_format import detect_format
    import torch
    from data_tools.synth import generate
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in generate("finance", 24, seed=0)))
    cache = tmp_path / "cache"
    over = [f"kd.cache_dir={cache}", f"data.path={data}", "data.max_seq_len=96", "kd.topk=8"]
    cfg = load_config("smoke/tiny_distill_cache.yaml", over)
    build_cache(cfg, "t")

    comp = record(cache / "compute.json")
    assert comp.phase == "distill-cache" and comp.threads >= 1
    assert ManifestRecord.model_validate(json.loads((cache / "manifest.json").read_text())).recipe == "distill-cache"
    # teacher FLOPs by hand: every example's tokens through the blocks at its own length, the head on its targets
    tok = load_tokenizer(cfg.model)

    class Notes:
        def write_text(self, *a):
            pass
    train_ex, eval_ex, _ = load_distill_data(cfg, tok, detect_format(tok), Notes())
    arch = arch_of(load_teacher(cfg.kd.teacher, torch.float32, torch.device("cpu"))[0])
    examples = train_ex + eval_ex
    n_targets = [sum(1 for y in e.labels[1:] if y != -100) for e in examples]
    assert comp.tokens == sum(len(e.input_ids) for e in examples)
    assert comp.target_tokens == sum(n_targets)
    assert comp.total_flops == sum(sequence_forward_flops(arch, len(e.input_ids), t)
                                   for e, t in zip(examples, n_targets)) > 0

    proc = run_cli(["run", "distill", "--config", "smoke/tiny_distill_cached.yaml", *over[:3],
                    "train.max_steps=2", "train.save_every=0", f"output.dir={tmp_path}", "output.name=kd"],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = record(tmp_path / "kd" / "compute.json")
    assert run.teacher_flops == 0                         # no live teacher ran in this process
    assert run.teacher is not None and run.teacher.complete
    (src,) = run.teacher.sources
    assert (src.path, src.phase, src.total_flops) == (str(cache), "distill-cache", comp.total_flops)
    assert run.teacher.pflops == pytest.approx(comp.pflops)
    assert run.totals.pflops == pytest.approx(run.pflops + comp.pflops)
    assert run.totals.cost_krw == pytest.approx(run.cost_krw + comp.cost_krw)


def test_traces_compute_counts_generation_and_sft_on_them_carries_it(tmp_path):
    from recipes.traces import run, run_shard
    from tests.trainers.distill.test_traces import ScriptedTeacher, Tok
    from trainers.models.arch_spec import ArchSpec
    from trainers.compute.compute_meter import ComputeMeter
    from trainers.config import load_config
    from trainers.config.distill import TracesConfig
    from trainers.compute.flops import generation_flops, train_flops_per_token
    from trainers.compute.metering import carry_teachers
    from trainers.distill.trace_prompts import read_prompts

    # per shard: every sample is generation_flops(prompt, new tokens), by hand for a scripted teacher
    tiny = ArchSpec("qwen2", 64, 2, 4, 2, 128, 100, False)
    prompts, _, _ = read_prompts("synth:finance:3", seed=0)
    cfg = TracesConfig(teacher={"path": "tiny:qwen2"}, data={"path": "synth:finance:3"},
                       output={"dir": str(tmp_path)}, generation={"samples_per_prompt": 2})
    _, stats = run_shard(cfg, ScriptedTeacher(Tok(), [["a", "b"]] * 3), prompts, seed=1, arch=tiny)
    lens = [len(Tok().apply_chat_template([{"content": p.messages[-1]["content"]}], False, True)) for p in prompts]
    assert stats["teacher_flops"] == sum(2 * generation_flops(tiny, n, 10) for n in lens)
    assert stats["prompt_tokens"] == 2 * sum(lens) and stats["tokens_generated"] == 60

    out = tmp_path / "traces"
    run(load_config("smoke/tiny_traces.yaml", [f"output.dir={out}", "generation.max_new_tokens=6",
                                               "data.path=synth:finance:4", "generation.shard_size=2"]), "t")
    comp = record(out / "compute.json")
    shards = [json.loads(f.read_text()) for f in sorted((out / "shards").glob("*.stats.json"))]
    assert comp.phase == "traces" and comp.total_flops == sum(s["teacher_flops"] for s in shards) > 0
    assert comp.target_tokens == sum(s["tokens_generated"] for s in shards)
    assert comp.seconds == pytest.approx(sum(s["teacher_device_seconds"] for s in shards))
    assert (out / "manifest.json").is_file()

    # an SFT config reading that directory carries the traces' compute (what finish_training writes)
    sft = load_config("smoke/tiny_lora.yaml", [f"data.path={out}"])
    meter = ComputeMeter(train_flops_per_token(tiny, 32, "full"), None, 100.0, "cpu")
    charge = carry_teachers(meter, sft)
    assert charge.complete and charge.sources[0].phase == "traces"
    assert charge.sources[0].total_flops == comp.total_flops
    assert meter.record().totals.pflops == pytest.approx(comp.pflops)


def test_a_model_cut_from_a_fine_tuned_run_carries_that_fine_tuning_once(tmp_path):
    from trainers.compute.compute_meter import ComputeMeter
    from trainers.compute.metering import carry_teachers
    from trainers.config import load_config
    proc = run_cli(["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=2", "train.save_every=0",
                    "output.merge=true", f"output.dir={tmp_path}", "output.name=teacher"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    teacher = record(tmp_path / "teacher" / "compute.json")
    merged = tmp_path / "teacher" / "merged"

    from trainers.compute.flops import train_flops_per_token
    from trainers.models.arch_spec import ArchSpec
    per_token = train_flops_per_token(ArchSpec("qwen2", 64, 2, 4, 2, 128, 100, False), 32, "full")

    def charge(cfg):
        meter = ComputeMeter(per_token, None, 100.0, "cpu")
        return carry_teachers(meter, cfg), meter.record()

    # a student initialised from the merged model (model.keep_layers) starts from the teacher's fine-tuning
    sft, rec = charge(load_config("smoke/tiny_lora.yaml", [f"model.path={merged}", "model.keep_layers=1"]))
    assert [s.path for s in sft.sources] == [str(tmp_path / "teacher")] and sft.complete
    assert rec.totals.pflops == pytest.approx(rec.pflops + teacher.pflops)
    # the same run as init and as KD teacher is charged once, not twice
    kd, rec = charge(load_config("smoke/tiny_distill.yaml", [f"model.path={merged}", f"kd.teacher.path={merged}"]))
    assert len(kd.sources) == 1 and kd.pflops == pytest.approx(teacher.pflops)
