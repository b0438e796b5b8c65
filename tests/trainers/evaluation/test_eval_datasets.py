"""Benchmark loading: shipped MCQA, synthetic generative items, synthetic MCQA options, bad input."""
import json

import pytest

from trainers.config.eval import BenchmarkSection
from trainers.errors import UserError
from trainers.evaluation.datasets import load_benchmark


def test_shipped_mcqa_and_limit():
    b = load_benchmark(BenchmarkSection(dataset="builtin:mcqa/healthcare", n=10))
    assert b.mode == "mcqa" and b.layout == "kmmlu" and len(b.items) == 10
    assert len(b.dev_pool) == 65          # k-shot pool is the whole set, the item itself excluded later


def test_synth_generative_items_carry_gold_and_tolerance():
    b = load_benchmark(BenchmarkSection(dataset="synth:manufacturing", n=8))
    assert b.mode == "generate" and len(b.items) == 8
    it = b.items[0]
    assert it["messages"][-1]["role"] == "user" and it["kind"] == "number" and it["rel_tol"] > 0
    assert len({i["category"] for i in b.items}) == 4     # tasks cycle, so each is a category


def test_synth_mcqa_has_one_right_option_and_distinct_distractors():
    from data_tools.synth import generate
    gen = load_benchmark(BenchmarkSection(dataset="synth:finance", n=40))
    b = load_benchmark(BenchmarkSection(dataset="synth-mcqa:finance", n=40))
    rows = generate("finance", 40, seed=0, split="test")
    assert b.mode == "mcqa" and len(b.items) == 40
    positions = [r["answer"] for r in b.items]
    assert set(positions) == {1, 2, 3, 4}
    for row, item, g in zip(rows, b.items, gen.items):
        options = [item[c] for c in "ABCD"]
        assert len(set(options)) == 4
        right = row["messages"][-1]["content"].rsplit("정답: ", 1)[1]
        assert options[item["answer"] - 1] == right and item["Category"] == g["category"]


def test_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no shipped MCQA set"):
        load_benchmark(BenchmarkSection(dataset="builtin:mcqa/law"))
    bad = tmp_path / "x.jsonl"
    bad.write_text(json.dumps({"question": "q", "A": "1", "B": "2", "C": "3", "D": "4", "answer": 7}) + "\n")
    with pytest.raises(UserError, match="answer 1..4"):
        load_benchmark(BenchmarkSection(dataset=str(bad)))
    with pytest.raises(UserError, match="holds mcqa items"):
        load_benchmark(BenchmarkSection(dataset="builtin:mcqa/finance", mode="generate"))
