"""ComputeMeter arithmetic with an injected clock and energy counter, and honest absence of energy on CPU."""
import json

import pytest

from trainers.arch_spec import ArchSpec
from trainers.compute_meter import ComputeMeter, open_nvml_energy
from trainers.flops import train_flops_per_token

TINY = ArchSpec("qwen2", 64, 2, 4, 2, 128, 100, False)


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_arithmetic_with_fake_clock_and_energy(tmp_path):
    per_token = train_flops_per_token(TINY, 32, "full", grad_checkpointing=True)
    assert (per_token.total, per_token.model_flops_for_mfu) == (693_760, 529_920)
    clock, joules = FakeClock(), [5_000.0]
    meter = ComputeMeter(per_token, {"name": "toy", "peak_tflops": 1e-3}, price_krw_per_hour=3600.0,
                         device="cuda", clock=clock, energy_reader=lambda: joules[0])
    meter.start()
    clock.t += 10.0; joules[0] += 2_000.0
    meter.add_tokens(1_000)
    meter.pause()                          # evaluation: 30 s and 900 J not billed
    clock.t += 30.0; joules[0] += 900.0
    meter.resume()
    clock.t += 10.0; joules[0] += 1_500.0
    meter.add_tokens(1_000, extra_flops=40_000_000)   # e.g. a teacher forward
    s = meter.snapshot()

    assert s["tokens"] == 2_000
    assert s["seconds"] == 20.0 and s["paused_seconds"] == 30.0
    assert s["tokens_per_s"] == 100.0
    assert s["total_flops"] == 2_000 * 693_760 + 40_000_000 == 1_427_520_000
    assert s["model_flops"] == 2_000 * 529_920 + 40_000_000 == 1_099_840_000
    assert s["pflops"] == pytest.approx(1.42752e-6)
    assert s["achieved_tflops"] == pytest.approx(1_427_520_000 / 20 / 1e12)
    assert s["model_tflops"] == pytest.approx(54_992_000 / 1e12)
    assert s["mfu"] == pytest.approx(54_992_000 / 1e12 / 1e-3)   # = 0.054992, recompute excluded
    assert s["energy_J"] == 3_500.0 and s["energy_reason"] is None
    assert s["device_hours"] == pytest.approx(20 / 3600)
    assert s["cost_krw"] == pytest.approx(20.0)                   # 20 s at 3,600 won/h
    assert s["mfu_basis"] == "6N+12LHQT"

    written = meter.to_json(tmp_path / "run" / "compute.json")
    assert json.loads((tmp_path / "run" / "compute.json").read_text()) == written


def test_cpu_has_no_energy_and_no_mfu_without_peak():
    clock = FakeClock()
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "lora", lora_r=8), None, None,
                         device="cpu", clock=clock)
    meter.start()
    clock.t += 4.0
    meter.add_tokens(10)
    s = meter.snapshot()
    assert s["energy_J"] is None and "cpu" in s["energy_reason"]
    assert s["mfu"] is None and s["cost_krw"] is None
    assert s["tokens_per_s"] == 2.5
    assert s["mfu_basis"] == "4N+12LHQT+adapter"
    assert json.dumps(s)  # JSON-serialisable with nulls
    assert open_nvml_energy("cpu") == (None, "device is cpu: NVML measures NVIDIA GPUs only")


def test_cpu_with_a_given_peak_reports_mfu():
    clock = FakeClock()
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "full"), {"peak_tflops": 0.5}, None,
                         device="cpu", clock=clock)
    meter.start()
    clock.t += 1.0
    meter.add_tokens(1_000_000)
    assert meter.snapshot()["mfu"] == pytest.approx(529_920 * 1e6 / 1e12 / 0.5)


def test_snapshot_while_paused_and_misuse():
    clock = FakeClock()
    meter = ComputeMeter(train_flops_per_token(TINY, 32, "full"), device="cpu", clock=clock)
    with pytest.raises(RuntimeError):
        meter.add_tokens(1)                 # before start()
    meter.start()
    assert meter.snapshot()["tokens_per_s"] is None   # zero seconds: no division
    clock.t += 2.0
    meter.pause()
    clock.t += 5.0
    s = meter.snapshot()
    assert (s["seconds"], s["paused_seconds"]) == (2.0, 5.0)
    with pytest.raises(RuntimeError):
        meter.add_tokens(1)                 # while paused
    with pytest.raises(RuntimeError):
        meter.pause()
