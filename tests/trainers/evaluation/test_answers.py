"""Answer extraction on a fixture of realistic model outputs, plus the number parser and is_correct."""
import json
import math
from pathlib import Path

import pytest

from trainers.evaluation.answers import Extracted, extract_answer, is_correct
from trainers.evaluation.number_parse import parse_number

FIXTURE = Path(__file__).parent / "fixtures" / "answer_outputs.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_fixture_is_large_and_varied():
    assert len(ROWS) >= 40
    kinds = {r["kind"] for r in ROWS}
    assert kinds == {"number", "choice", "text"}
    assert sum(not r["found"] for r in ROWS) >= 6          # missing answers are represented
    assert sum("<think>" in r["output"] and "</think>" not in r["output"] for r in ROWS) >= 3


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_fixture_extraction(row):
    got = extract_answer(row["output"], row["kind"], row.get("n_choices", 4))
    assert got.found == row["found"], (row["note"], got)
    if row["kind"] == "number" and row["found"]:
        assert math.isclose(got.value, row["value"], rel_tol=1e-12), (row["note"], got)
    else:
        assert got.value == row["value"], (row["note"], got)
    if "gold" in row:
        assert is_correct(got, row["gold"], row["kind"]) == row["correct"], (row["note"], got)


def test_missing_answers_count_wrong_and_accuracy_adds_up():
    graded = [r for r in ROWS if "gold" in r]
    correct = sum(is_correct(extract_answer(r["output"], r["kind"], r.get("n_choices", 4)),
                             r["gold"], r["kind"]) for r in graded)
    assert correct == sum(r["correct"] for r in graded)
    assert not is_correct(Extracted(None, "", False), 3, "choice")


@pytest.mark.parametrize("text, value", [
    ("₩12,000", 12_000), ("12,000원", 12_000), ("3만 원", 30_000), ("1억 2천만 원", 120_000_000),
    ("12만5천원", 125_000), ("1조 5000억", 1.5e12), ("1.2 × 10^3", 1_200), ("1.2×10³", 1_200),
    ("2.5e-3", 0.0025), ("−5%", -5), ("+3.5", 3.5), ("１２，０００", 12_000), (r"\frac{1}{4}", 0.25),
    ("3.14 mm", 3.14), ("125 mL/h", 125), ("70kg", 70),
])
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


def test_parse_number_refuses_ambiguity():
    assert parse_number("3-5") is None           # a range holds two numbers, not -5
    assert parse_number("없음") is None


def test_is_correct_gold_forms():
    three = extract_answer("정답: 3", "choice")
    assert all(is_correct(three, g, "choice") for g in (3, "3", "C", "③", "(C)"))
    num = extract_answer("답: 1,000원", "number")
    assert is_correct(num, "₩1,000", "number") and is_correct(num, 1005, "number")
    assert not is_correct(num, 1011, "number")            # 1.1% off with rel_tol 1%
    assert is_correct(num, 1011, "number", rel_tol=0.02)
    with pytest.raises(ValueError, match="no single number"):
        is_correct(num, "1,000원 또는 2,000원", "number")
    with pytest.raises(ValueError, match="kind"):
        extract_answer("x", "date")
