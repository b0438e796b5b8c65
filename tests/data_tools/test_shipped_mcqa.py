"""The shipped Korean MCQA sets: KMMLU row layout, enough rows, balanced answer positions, clean text.

These files are hand-written for kdtune (not KMMLU items); eval recipes read them with the same
loader as KMMLU, so any drift from its layout would break evaluation silently.
"""

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

import data_tools

MCQA_DIR = Path(data_tools.__file__).parent / "shipped" / "mcqa"
KEYS = ["question", "answer", "A", "B", "C", "D", "Category"]  # KMMLU's column order
CATEGORIES = {
    "manufacturing": {"Machine Design and Manufacturing", "Industrial Engineer",
                      "Materials Engineering", "Nondestructive Testing"},
    "finance": {"Accounting", "Economics", "Taxation", "Management", "Real Estate"},
    "healthcare": {"Health", "Biology", "Food Processing"},
}
# Hangul syllables, Jamo and compatibility Jamo only: [ㄱ-힣] would also span CJK ideographs.
HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")


def load(domain):
    path = MCQA_DIR / f"{domain}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert all(line.strip() for line in lines), f"{path} has blank lines"
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("domain", sorted(CATEGORIES))
def test_rows_follow_kmmlu_layout(domain):
    rows = load(domain)
    assert len(rows) >= 60
    for i, row in enumerate(rows, 1):
        where = f"{domain}.jsonl line {i}"
        assert list(row) == KEYS, where
        assert type(row["answer"]) is int and 1 <= row["answer"] <= 4, where
        texts = [row[k] for k in ("question", "A", "B", "C", "D")]
        assert all(isinstance(t, str) and t and t == t.strip() for t in texts), where
        assert len({row[k] for k in "ABCD"}) == 4, f"{where}: options repeat"
        assert HANGUL.search(row["question"]), where
        assert all(unicodedata.is_normalized("NFC", t) for t in texts), f"{where}: not NFC"
        assert row["Category"] in CATEGORIES[domain], where


@pytest.mark.parametrize("domain", sorted(CATEGORIES))
def test_answer_positions_balanced(domain):
    rows = load(domain)
    counts = Counter(r["answer"] for r in rows)
    for position in (1, 2, 3, 4):
        share = counts[position] / len(rows)
        assert 0.15 <= share <= 0.35, (position, share)


@pytest.mark.parametrize("domain", sorted(CATEGORIES))
def test_every_subject_is_covered(domain):
    per_category = Counter(r["Category"] for r in load(domain))
    assert set(per_category) == CATEGORIES[domain]
    assert min(per_category.values()) >= 10, per_category


def test_no_duplicate_questions_across_sets():
    questions = [r["question"] for d in CATEGORIES for r in load(d)]
    repeated = [q for q, c in Counter(questions).items() if c > 1]
    assert not repeated
