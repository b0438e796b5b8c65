"""ComputeMeter arithmetic with injected clocks and energy counter: head FLOPs per target token,
eval/checkpoint sections reported but not billed, resume from state == uninterrupted, a live
teacher, honest absence of energy on CPU."""
import json

import pytest

from trainers.compute.compute_meter import ComputeMeter, open_nvml_energy
from trainers.compute.flops import teacher_token_cost, train_flops_per_token
from trainers.models.arch_spec import ArchSpec
from trainers.run.records import ComputeRecord

TINY = ArchSpec("qwen2", 64, 2, 4, 2, 128, 100, False)
HEAD = 100 * 64


class FakeClock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self):
        return self.t


def test_arithmetic_with_fake_clocks_and_energy(tmp_path):
    per_token = train_flops_per_token(TINY, 32, "full", grad_checkpointing=True)
    assert (per_token.total, per_token.model_flops_for_mfu, per_token.head) == (693_760, 529_920, 6 * HEAD)
    dev, wall, joules = FakeClock(), FakeClock(5.0), [5_000.0]
    meter = ComputeMeter(per_token, {"name": "toy", "peak_tflops": 1e-3}, price_krw_per_hour=3600.0,
                         device="cuda", clock=dev, wall_clock=wall, energy_reader=lambda: joules[0])
    meter.start()
    dev.t += 10.0; wall.t += 12.0; joules[0] += 2_000.0
    meter.add_tokens(1_000, target_tokens=300)
    with meter.section("eval"):            # 30 s and 900 J: reported, not billed
        dev.t += 30.0; wall.t += 31.0; joules[0] += 900.0
    with meter.section("checkpoint"):      # 5 s: reported, not billed
        dev.t += 5.0; wall.t += 6.0; joules[0] += 100.0
    dev.t += 10.0; wall.t += 8.0; joules[0] += 1_500.0
    meter.add_tokens(1_000, extra_flops=40_000_000, target_tokens=200)   # extra: e.g. other useful work
    s = meter.snapshot()

    assert (s["tokens"], s["target_tokens"]) == (2_000, 500)
    assert (s["seconds"], s["wall_seconds"]) == (20.0, 20.0)
    assert (s["eval_seconds"], s["eval_wall_seconds"]) == (30.0, 31.0)
    assert (s["checkpoint_seconds"], s["checkpoint_wall_seconds"]) == (5.0, 6.0)
    assert s["tokens_per_s"] == 100.0
    # blocks on every input token, the head (6·V·d = 38,400) only on the 500 targets
    assert s["total_flops"] == 2_000 * (693_760 - 38_400) + 500 * 38_400 + 40_000_000 == 1_369_920_000
    assert s["model_flops"] == 2_000 * (529_920 - 38_400) + 500 * 38_400 + 40_000_000 == 1_042_240_000
    assert s["pflops"] == pytest.approx(1.36992e-6)
    assert s["achieved_tflops"] == pytest.approx(1_369_920_000 / 20 / 1e12)
    assert s["model_tflops"] == pytest.approx(52_112_000 / 1e12)
    assert s["mfu"] == pytest.approx(52_112_000 / 1e12 / 1e-3)   # = 0.052112, recompute excluded
    assert s["energy_J"] == 3_500.0 and s["energy_reason"] is None
    assert s["device_hours"] == pytest.approx(20 / 3600)
    assert s["cost_krw"] == pytest.approx(20.0)                   # 20 s at 3,600 won/h
    assert s["mfu_basis"] == "6N+12LHQT" and s["seconds_basis"] == "wall clock"
    assert s["totals"] == {"pflops": s["pflops"], "device_hours": s["device_hours"], "cost_krw": 20.0}

    written = meter.to_json(tmp_path / "run" / "compute.json")
    assert json.loads((tmp_path / "run" / "compute.json").read_text()) == written
    assert ComputeRecord.model_validate(written).total_flops == 1_369_920_000


def test_resume_from_state_equals_uninterrupted():
    """Steps 1-4 in one meter vs steps 1-2, state saved, a new meter (new process: its clock starts
    elsewhere) restoring it and doing steps 3-4: same tokens and FLOPs, seconds summed."""
    per_token = train_flops_per_token(TINY, 32, "lora", lora_r=8)
    steps = [(100, 40), (120, 55), (90, 30), (110, 60)]

    def meter(clock):
        return ComputeMeter(per_token, {"peak_tflops": 1.0}, 36.0, "cpu", clock=clock, wall_clock=clock)

    clock = FakeClock()
    whole = meter(clock)
    whole.start()
    for n, t in steps:
        clock.t += 2.0
        whole.add_tokens(n, target_tokens=t)
        with whole.section("checkpoint"):
            clock.t += 0.5

    clock = FakeClock()
    first = meter(clock)
    first.start()
    for n, t in steps[:2]:
        clock.t += 2.0
        first.add_tokens(n, target_tokens=t)
        with first.section("checkpoint"):
            saved = json.loads(json.dumps(first.state_dict()))   # what state.json holds
            clock.t += 0.5
    clock.t += 7.0                          # work after the checkpoint, lost with the kill
    first.add_tokens(999, target_tokens=99)

    clock = FakeClock(5_000.0)
    second = meter(clock)
    second.load_state_dict(saved)
    second.start()
    for n, t in steps[2:]:
        clock.t += 2.0
        second.add_tokens(n, target_tokens=t)
        with second.section("checkpoint"):
            clock.t += 0.5

    a, b = whole.snapshot(), second.snapshot()
    for key in ("tokens", "target_tokens", "total_flops", "model_flops"):
        assert a[key] == b[key], key
    assert a["total_flops"] == 420 * (per_token.total - 4 * HEAD) + 185 * 4 * HEAD
    assert a["seconds"] == b["seconds"] == 8.0
    assert a["checkpoint_seconds"] == 2.0 and b["checkpoint_seconds"] == 1.5   # the save in progress is not in its own state
    with pytest.raises(RuntimeError):
        second.load_state_dict(saved)       # only before start()


def test_live_teacher_and_two_head_passes():
    per_token = train_flops_per_token(TINY, 32, "lora", lora_r=8)
    teacher = teacher_token_cost(TINY, 32)
    clock = FakeClock()
    meter = ComputeMeter(per_token, None, None, "cpu", clock=clock, head_passes=2, teacher_cost=teacher)
    meter.start()
    meter.add_tokens(32, target_tokens=10)
    s = meter.snapshot()
    student = 32 * (per_token.total - 4 * HEAD) + 10 * 2 * 4 * HEAD
    teach = 32 * (2 * 73_728 + 16_384) + 10 * 2 * HEAD
    assert s["teacher_flops"] == teach == 5_370_880
    assert s["total_flops"] == s["model_flops"] == student + teach
    assert s["head_passes"] == 2


def test_cpu_has_no_energy_and_no_mfu_without_peak():
    clock = FakeClock()
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "lora", lora_r=8), None, None,
                         device="cpu", clock=clock, wall_clock=clock)
    meter.start()
    clock.t += 4.0
    meter.add_tokens(10)
    s = meter.snapshot()
    assert s["energy_J"] is None and "cpu" in s["energy_reason"]
    assert s["mfu"] is None and s["cost_krw"] is None
    assert s["tokens_per_s"] == 2.5
    assert s["mfu_basis"] == "4N+12LHQT+adapter"
    assert s["seconds_basis"].startswith("process CPU time")
    assert json.dumps(s)  # JSON-serialisable with nulls
    assert open_nvml_energy("cpu") == (None, "device is cpu: NVML measures NVIDIA GPUs only")


def test_cpu_device_seconds_are_cpu_time_not_wall():
    """The default CPU clock is process CPU time: sleeping (a busy neighbour holding the core) adds
    wall time but not device time, so it does not change the price."""
    import time
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "full"), None, 3600.0, device="cpu")
    meter.start()
    time.sleep(0.3)
    s = meter.snapshot()
    assert s["wall_seconds"] >= 0.3 and s["seconds"] < 0.1
    assert s["cost_krw"] == pytest.approx(s["seconds"])


def test_cpu_with_a_given_peak_reports_mfu():
    clock = FakeClock()
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "full"), {"peak_tflops": 0.5}, None,
                         device="cpu", clock=clock, wall_clock=clock)
    meter.start()
    clock.t += 1.0
    meter.add_tokens(1_000_000, target_tokens=1_000_000)
    assert meter.snapshot()["mfu"] == pytest.approx(529_920 * 1e6 / 1e12 / 0.5)


def test_snapshot_while_paused_and_misuse():
    clock = FakeClock()
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "full"), device="cpu", clock=clock, wall_clock=clock)
    with pytest.raises(RuntimeError):
        meter.add_tokens(1)                 # before start()
    with pytest.raises(RuntimeError):
        with meter.section("eval"):         # before start()
            pass
    meter.start()
    assert meter.snapshot()["tokens_per_s"] is None   # zero seconds: no division
    clock.t += 2.0
    meter.pause()
    clock.t += 5.0
    with meter.section("eval"):             # the final evaluation, after training stopped
        clock.t += 3.0
    s = meter.snapshot()
    assert (s["seconds"], s["paused_seconds"], s["eval_seconds"]) == (2.0, 5.0, 3.0)
    with pytest.raises(RuntimeError):
        meter.add_tokens(1)                 # while paused
    with pytest.raises(RuntimeError):
        meter.pause()
    with pytest.raises(ValueError):
        with meter.section("lunch"):
            pass
