"""Accuracy aggregation: counts add up, missing answers count as wrong, intervals are Wilson's."""
import pytest

from trainers.evaluation.accuracy import ItemResult, summarize
from trainers.evaluation.intervals import wilson_interval


def _results():
    # Accounting: 7 of 10 right (one missing answer); Taxation: 1 of 4 right (two missing).
    acc = [ItemResult(f"acc{i}", "Accounting", i < 7, found=i != 9) for i in range(10)]
    tax = [ItemResult(f"tax{i}", "Taxation", i == 0, found=i < 2) for i in range(4)]
    return acc + tax


def test_overall_and_per_category():
    s = summarize(_results())
    assert s["overall"]["n"] == 14 and s["overall"]["correct"] == 8 and s["overall"]["missing"] == 3
    assert s["overall"]["accuracy"] == pytest.approx(8 / 14)
    assert s["overall"]["ci95"] == pytest.approx(list(wilson_interval(8, 14)))
    acc = s["per_category"]["Accounting"]
    assert (acc["n"], acc["correct"], acc["missing"], acc["accuracy"]) == (10, 7, 1, 0.7)
    assert [round(x, 4) for x in acc["ci95"]] == [0.3968, 0.8922]
    tax = s["per_category"]["Taxation"]
    assert (tax["n"], tax["correct"], tax["missing"]) == (4, 1, 2)
    assert sum(c["n"] for c in s["per_category"].values()) == s["overall"]["n"]
    assert list(s["per_category"]) == ["Accounting", "Taxation"]


def test_bootstrap_option_and_errors():
    s = summarize(_results(), interval="bootstrap")
    lo, hi = s["overall"]["ci95"]
    assert lo < 8 / 14 < hi and s["interval"] == "bootstrap"
    with pytest.raises(ValueError, match="duplicate"):
        summarize(_results() + [ItemResult("acc0", "Accounting", True)])
    with pytest.raises(ValueError, match="interval"):
        summarize(_results(), interval="normal")
    assert summarize([])["overall"] == {"n": 0, "correct": 0, "missing": 0, "accuracy": None,
                                        "ci95": [0.0, 1.0]}
