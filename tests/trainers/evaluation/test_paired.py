"""Item-by-item comparison of two arms: counts that add up, and the exact McNemar p-value against a
naive reference (enumerating every split of the disputed items) and scipy's binomial test."""
import itertools
import json

import pytest

from trainers.evaluation.paired import (compare_items, exact_mcnemar_p, item_outcomes, paired_comparison,
                                        verdict)


def naive_mcnemar(only_a: int, only_b: int) -> float:
    """Probability, under a fair coin per disputed item, of a split at least as uneven as observed
    (either direction), by enumerating all 2^n outcomes."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    observed = abs(only_a - only_b)
    hits = sum(1 for flips in itertools.product((0, 1), repeat=n) if abs(2 * sum(flips) - n) >= observed)
    return hits / 2 ** n


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (1, 0), (3, 3), (9, 1), (0, 8), (2, 12), (17, 10), (10, 17)])
def test_exact_mcnemar_equals_enumeration_and_scipy(only_a, only_b):
    p = exact_mcnemar_p(only_a, only_b)
    if only_a + only_b <= 14:   # 2^n outcomes: enumeration is a minute at n = 27, so scipy alone there
        assert p == pytest.approx(naive_mcnemar(only_a, only_b), abs=1e-12)
    scipy_stats = pytest.importorskip("scipy.stats")
    if only_a + only_b:
        assert p == pytest.approx(scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue, abs=1e-12)


def test_the_finance_kd_vs_sft_split_is_not_separated():
    # KD alone right on 17 items, SFT alone on 10 (docs/bench/cls_finance): p = 0.248
    assert exact_mcnemar_p(17, 10) == pytest.approx(0.2478, abs=1e-4)
    assert exact_mcnemar_p(20, 5) < 0.05


def test_counts_add_up_and_verdicts_read_plainly():
    a = {f"{i:05d}": i % 2 == 0 for i in range(40)}                     # right on the even items
    b = {f"{i:05d}": i % 4 == 0 or i % 5 == 1 for i in range(40)}
    row = compare_items(a, b)
    assert row["both_right"] + row["only_a"] + row["only_b"] + row["both_wrong"] == row["n"] == 40
    assert row["diff_pp"] == pytest.approx(100 * (sum(a.values()) - sum(b.values())) / 40)
    assert row["only_a"] == sum(a[i] and not b[i] for i in a)
    assert "not separated" in verdict({"a": "x", "b": "y", **row})
    strong = compare_items({str(i): True for i in range(30)}, {str(i): i < 5 for i in range(30)})
    assert strong["separated"] and verdict({"a": "x", "b": "y", **strong}).startswith("x is better")
    with pytest.raises(ValueError, match="not on the same items"):
        compare_items({"1": True}, {"2": True})


def test_runs_without_per_item_predictions_say_why(tmp_path):
    for name, rows in (("a", [{"id": "0", "gold": "x", "predicted": "x"}, {"id": "1", "gold": "y", "predicted": None}]),
                       ("b", [{"id": "0", "gold": "x", "predicted": "y"}, {"id": "1", "gold": "y", "predicted": "y"}])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "eval.json").write_text(json.dumps({"predictions": rows}))
    assert item_outcomes(tmp_path / "a") == ({"0": True, "1": False}, None)
    row = paired_comparison("a", tmp_path / "a", "b", tmp_path / "b")
    assert (row["only_a"], row["only_b"], row["both_right"], row["both_wrong"]) == (1, 1, 0, 0)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "eval.json").write_text(json.dumps({"examples": []}))
    row = paired_comparison("a", tmp_path / "a", "old", tmp_path / "old")
    assert "no per-item predictions" in row["error"] and verdict(row).startswith("not compared")
