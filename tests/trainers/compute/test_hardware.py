"""GPU catalogue: required cards and facts, precision choice, name matching, prices.

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/compute/test_hardware.py -q
"""
from __future__ import annotations

import pytest
import torch

from trainers.errors import UserError
from trainers.compute.hardware import (CATALOGUE, DEFAULT_KRW_PER_USD, catalogue_precision, detect_gpu,
                               get_gpu, match_gpu_name)

REQUIRED = ["t4-16gb", "rtx3060-12gb", "rtx4060-8gb", "rtx4060ti-16gb", "rtx3090-24gb",
            "rtx4090-24gb", "l4-24gb", "a10g-24gb", "a100-40gb", "a100-80gb", "h100-80gb", "cpu"]


def test_catalogue_has_the_issue_cards_with_sane_fields():
    assert set(REQUIRED) <= set(CATALOGUE)
    for g in CATALOGUE.values():
        assert g.vram_gib > 0 and g.bandwidth_gbs > 0 and g.price_usd_hour > 0
        lo, hi = g.price_range_usd
        assert lo <= g.price_usd_hour <= hi, g.id
        assert g.price_date == "2026-11"
        assert (g.bf16_tflops > 0) == g.bf16


def test_design_facts():
    # (bandwidth GB/s, dense bf16-or-fp16 TFLOPS) from DESIGN.md
    facts = {"t4-16gb": (320, 65), "rtx3060-12gb": (360, 25), "rtx4060-8gb": (272, 30),
             "rtx4060ti-16gb": (288, 44), "rtx3090-24gb": (936, 71), "rtx4090-24gb": (1008, 165),
             "l4-24gb": (300, 121), "a100-40gb": (1555, 312), "a100-80gb": (2039, 312),
             "h100-80gb": (3350, 989)}
    for gpu_id, (bw, tflops) in facts.items():
        g = CATALOGUE[gpu_id]
        assert g.bandwidth_gbs == bw and g.fp16_tflops == tflops, gpu_id
    assert not CATALOGUE["t4-16gb"].bf16
    assert CATALOGUE["t4-16gb"].price_usd_hour == pytest.approx(0.53)
    assert CATALOGUE["l4-24gb"].price_usd_hour == pytest.approx(0.80)


def test_precision_choice():
    assert catalogue_precision(get_gpu("t4-16gb")) == "fp16"        # no bf16: fp16 + loss scaling
    assert catalogue_precision(get_gpu("cpu")) == "fp32"
    for gpu_id in REQUIRED[1:-1]:
        assert catalogue_precision(get_gpu(gpu_id)) == "bf16"
    with pytest.raises(UserError, match="no bf16"):
        get_gpu("t4").peak_tflops("bf16")


def test_krw_price_uses_rate():
    g = get_gpu("l4-24gb")
    assert g.price_krw_hour() == pytest.approx(0.80 * DEFAULT_KRW_PER_USD)
    assert g.price_krw_hour(1300.0) == pytest.approx(1040.0)


def test_lookup_by_family_and_errors():
    assert get_gpu("RTX4060").id == "rtx4060-8gb"
    assert get_gpu("h100").id == "h100-80gb"
    with pytest.raises(UserError, match="a100-40gb, a100-80gb"):
        get_gpu("a100")
    with pytest.raises(UserError, match="known:"):
        get_gpu("voodoo2")


@pytest.mark.parametrize("name,total,expected", [
    ("Tesla T4", 14.75, "t4-16gb"),
    ("NVIDIA GeForce RTX 4060 Ti", 15.99, "rtx4060ti-16gb"),
    ("NVIDIA GeForce RTX 4060", 7.99, "rtx4060-8gb"),
    ("NVIDIA GeForce RTX 3060", 11.76, "rtx3060-12gb"),
    ("NVIDIA GeForce RTX 3090", 23.69, "rtx3090-24gb"),
    ("NVIDIA GeForce RTX 4090", 23.99, "rtx4090-24gb"),
    ("NVIDIA L4", 22.05, "l4-24gb"),
    ("NVIDIA A10G", 22.05, "a10g-24gb"),
    ("NVIDIA A100-SXM4-40GB", 39.39, "a100-40gb"),
    ("NVIDIA A100 80GB PCIe", 79.15, "a100-80gb"),
    ("NVIDIA H100 80GB HBM3", 79.1, "h100-80gb"),
])
def test_device_names_match(name, total, expected):
    spec, known = match_gpu_name(name, total)
    assert known and spec.id == expected and spec.name == name
    assert spec.vram_gib == pytest.approx(total, abs=0.01)   # planned with the measured memory


def test_l40s_is_not_an_l4_and_unknown_falls_back_by_memory():
    spec, known = match_gpu_name("NVIDIA L40S", 44.5)
    assert not known and spec.id == "a100-40gb" and spec.vram_gib == pytest.approx(44.5)


def test_detect_on_this_machine():
    spec = detect_gpu()
    if not torch.cuda.is_available():
        assert spec.id == "cpu" and catalogue_precision(spec) == "fp32" and spec.vram_gib > 0


def test_meter_profile_feeds_compute_meter():
    prof = get_gpu("rtx4090-24gb").meter_profile()
    assert prof["peak_tflops"] == 165 and prof["precision"] == "bf16"
    assert get_gpu("t4-16gb").meter_profile()["peak_tflops"] == 65
