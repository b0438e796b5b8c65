"""The report's gain column is percentage points per an amount of KRW near what the arms cost: a
CPU mini-bench (arms costing tenths of a won) quotes gains per 0.1 KRW, a GPU bench (thousands of
KRW) per 1,000 or 10,000 KRW — never a figure extrapolated past the money spent (the old column
showed "+3550.5 pp per 1,000 KRW" for 1.5 points bought with 0.42 KRW)."""
import pytest

from trainers.evaluation.intervals import wilson_interval
from trainers.reporting.reporting import build_report, cost_unit_krw, krw_amount, markdown


def arm(name: str, correct: int, krw: float, pflops: float, n: int = 200, base: bool = False) -> dict:
    return {"name": name, "status": "ok", "accuracy": correct / n, "ci95": list(wilson_interval(correct, n)),
            "n": n, "cost_krw": krw, "pflops": pflops, "device_hours": krw / 70.0, "is_base": base,
            "method": "base" if base else "lora", "recipe": "eval" if base else "sft"}


def test_cost_unit_is_a_power_of_ten_at_most_the_cheapest_cost():
    assert cost_unit_krw([0.0, 0.42, 0.33, 0.71]) == pytest.approx(0.1)
    assert cost_unit_krw([0.0049, 0.02]) == pytest.approx(0.001)     # CI-sized bench
    assert cost_unit_krw([None, 2345.0, 12000.0]) == 1000
    assert cost_unit_krw([0.0, 15000.0, 98000.0]) == 10000
    assert cost_unit_krw([0.0]) == 1 and cost_unit_krw([]) == 1
    assert [krw_amount(u) for u in (10000.0, 1.0, 0.1, 0.001)] == ["10,000", "1", "0.1", "0.001"]


def test_cpu_bench_gains_are_points_per_tenth_of_a_won():
    # the shipped finance mini-bench's arms (docs/benchmark.md): accuracies and KRW as measured there
    report = build_report([arm("base", 49, 0.0, 0.0, base=True), arm("qlora-r8", 52, 0.42, 7.1e-4),
                           arm("full", 50, 0.33, 8.9e-4), arm("lora-r64", 47, 0.39, 1.14e-3)])
    by = {a["name"]: a for a in report["arms"]}
    assert report["cost_unit_krw"] == pytest.approx(0.1)
    assert by["qlora-r8"]["gain_pp"] == pytest.approx(1.5)
    assert by["qlora-r8"]["gain_pp_per_cost_unit"] == pytest.approx(1.5 / 4.2)    # +0.36 pp per 0.1 KRW
    assert by["lora-r64"]["gain_pp_per_cost_unit"] == pytest.approx(-1.0 / 3.9)
    # never more than the gain itself: nothing is extrapolated past what was spent
    assert all(abs(a["gain_pp_per_cost_unit"]) <= abs(a["gain_pp"]) for a in report["arms"] if a["name"] != "base")
    assert all(a["gain_within_noise"] for a in report["arms"] if a["name"] != "base")
    table = markdown(report)
    assert "Δacc (pp) per 0.1 KRW" in table and "| +0.36† |" in table and "| -0.26† |" in table
    assert "within this eval's noise" in table


def test_gpu_bench_gains_are_points_per_thousand_krw():
    report = build_report([arm("base", 80, 0.0, 0.0, base=True), arm("qlora-7b", 120, 12000.0, 40.0),
                           arm("lora-1.5b", 100, 2345.0, 9.0)])
    by = {a["name"]: a for a in report["arms"]}
    assert report["cost_unit_krw"] == 1000     # the cheapest trained arm cost 2,345 KRW
    assert by["qlora-7b"]["gain_pp_per_cost_unit"] == pytest.approx(20.0 / 12.0)      # +1.67 pp per 1,000 KRW
    assert by["lora-1.5b"]["gain_pp_per_cost_unit"] == pytest.approx(10.0 / 2.345)
    assert not by["qlora-7b"]["gain_within_noise"]                                    # 60% vs 40%: separated
    table = markdown(report)
    assert "Δacc (pp) per 1,000 KRW" in table and "| +1.67 |" in table and "| +4.26† |" in table
