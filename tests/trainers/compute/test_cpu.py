"""CPU figures: the calibrated peak (measured, cached per machine), the thread rule, and MFU <= 100%
for real matmul work metered against that peak.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/compute/test_cpu.py -q
"""
import json

import pytest
import torch

from trainers.compute import cpu
from trainers.compute.compute_meter import ComputeMeter
from trainers.compute.metering import forward_only_breakdown


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KDTUNE_CACHE", str(tmp_path))
    return tmp_path / "cpu_peak.json"


def test_calibration_is_measured_once_and_cached_by_machine(cache):
    first = cpu.cpu_peak_tflops()
    assert not first["cached"] and first["key"] == cpu.calibration_key()
    assert cpu.cpu_model() in first["key"] and torch.__version__ in first["key"]
    # a real fp32 core does between 1 and 1000 GFLOPS; a constant or a unit slip would not
    assert 1e-3 < first["peak_tflops"] < 1.0
    table = json.loads(cache.read_text())
    assert table[first["key"]]["peak_tflops"] == first["peak_tflops"]
    again = cpu.cpu_peak_tflops()
    assert again["cached"] and again["peak_tflops"] == first["peak_tflops"]
    cache.write_text("{not json")                     # a broken cache costs a re-measurement only
    assert cpu.cpu_peak_tflops()["cached"] is False


def test_thread_rule():
    assert cpu.choose_threads(10**9, {"OMP_NUM_THREADS": "3"}) == cpu.ThreadChoice(3, "OMP_NUM_THREADS=3")
    tiny = cpu.choose_threads(80_128, {})
    assert tiny.threads == 1 and "one thread" in tiny.reason
    big = cpu.choose_threads(cpu.TINY_MODEL_PARAMS, {})
    assert big.threads == cpu.physical_cores() >= 1
    assert cpu.physical_cores({0}) == 1


def test_mfu_of_real_matmul_training_is_at_most_one(cache):
    """A two-layer MLP trained for ~0.5 s on one thread, metered with exact FLOPs (6 per weight per
    row) against the calibrated per-core peak: MFU must land in (0, 1]. An assumed peak of 0.1
    TFLOPS for the whole CPU would put this well above 1 on this machine (it runs ~100+ GFLOPS)."""
    peak = cpu.cpu_peak_tflops()["peak_tflops"]
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        d, rows = 512, 256
        mlp = torch.nn.Sequential(torch.nn.Linear(d, d, bias=False), torch.nn.Linear(d, d, bias=False))
        x = torch.randn(rows, d, requires_grad=True)   # so both layers compute activation grads
        flops_per_row = 6 * 2 * d * d          # forward 2, activation grad 2, weight grad 2 per weight
        meter = ComputeMeter(forward_only_breakdown(flops_per_row, "mlp"), {"peak_tflops": peak}, None, "cpu")
        mlp(x).sum().backward()                 # warm-up outside the meter
        meter.start()
        for _ in range(40):
            mlp.zero_grad()
            mlp(x).sum().backward()
            meter.add_tokens(rows)
        s = meter.snapshot()
    finally:
        torch.set_num_threads(previous)
    assert 0.05 < s["mfu"] <= 1.0, s
