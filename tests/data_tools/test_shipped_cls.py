"""The shipped hand-written classification sets (data_tools/shipped/cls/<domain>/{train,test}.jsonl).

Layout as cls_tasks reads it, counts the benchmark relies on (a balanced 12-per-label test split),
no duplicate texts, and the prepare pipeline over each set with its shipped config
(configs/data/cls_<domain>.yaml): every row accounted for, no test text leaked into train, the
test split surviving whole.
"""

import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from data_tools.cls_tasks import SHIPPED_CLS, TASKS, read_records
from data_tools.prepare import prepare
from data_tools.prepare_config import load_prepare_config

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["text", "label"]
TEST_PER_LABEL = 12
MIN_TRAIN = 400


def load(domain: str, split: str) -> list[dict]:
    folder = SHIPPED_CLS / domain
    if not folder.is_dir():
        pytest.skip(f"{folder} does not exist yet: the {domain} set is hand-written for issue 11 item 3")
    lines = (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(line.strip() for line in lines), f"{domain}/{split}.jsonl has blank lines"
    return [json.loads(line) for line in lines]


def key(text: str) -> str:
    """What counts as the same text: NFC, whitespace runs collapsed (as the pipeline's normaliser)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("domain", sorted(TASKS))
def test_layout_keys_labels_and_nfc(domain, split):
    rows = load(domain, split)
    labels = TASKS[domain].labels
    for i, row in enumerate(rows, 1):
        where = f"{domain}/{split}.jsonl line {i}"
        assert list(row) == KEYS, where
        assert isinstance(row["text"], str) and row["text"].strip() == row["text"] != "", where
        assert row["label"] in labels, f"{where}: label {row['label']!r}"
        assert unicodedata.is_normalized("NFC", row["text"]), f"{where}: text not NFC"
    assert set(r["label"] for r in rows) == set(labels), f"{domain}/{split}: not every label is present"


@pytest.mark.parametrize("domain", sorted(TASKS))
def test_counts_and_balance(domain):
    labels = TASKS[domain].labels
    test = Counter(r["label"] for r in load(domain, "test"))
    assert test == {label: TEST_PER_LABEL for label in labels}
    train = Counter(r["label"] for r in load(domain, "train"))
    total = sum(train.values())
    assert total >= MIN_TRAIN
    mean = total / len(labels)
    # Roughly balanced: every label within 20% of the mean (a skew would bias the base-rate arm).
    assert all(0.8 * mean <= train[label] <= 1.2 * mean for label in labels), dict(train)


@pytest.mark.parametrize("domain", sorted(TASKS))
def test_no_exact_duplicates_within_or_across_splits(domain):
    train = [key(r["text"]) for r in load(domain, "train")]
    test = [key(r["text"]) for r in load(domain, "test")]
    assert len(set(train)) == len(train), [t for t, c in Counter(train).items() if c > 1]
    assert len(set(test)) == len(test), [t for t, c in Counter(test).items() if c > 1]
    assert not set(train) & set(test)


@pytest.fixture(scope="module", params=sorted(TASKS))
def prepared(request, tmp_path_factory):
    """The shipped config run as a user would, with paths anchored at the repo and output in tmp."""
    domain = request.param
    train, test = load(domain, "train"), load(domain, "test")
    cfg = load_prepare_config(ROOT / "configs" / "data" / f"cls_{domain}.yaml")
    for inp in cfg.inputs:
        inp.path = str(ROOT / inp.path)
    out = tmp_path_factory.mktemp(f"cls-{domain}")
    cfg.output.dir = str(out)
    cfg.workers = 1  # ~700 rows: one chunk, no worker processes to start
    return domain, train, test, prepare(cfg, progress=False), out


def test_pipeline_counts_add_up(prepared):
    domain, train, test, card, out = prepared
    c = card["counts"]
    assert card["kind"] == "cls"
    assert c["in"] == len(train) + len(test)
    assert c["in"] == (c["kept"] + c["duplicates_exact"] + c["duplicates_near"]
                       + c["quarantined_total"] + c["filtered_total"])
    assert (c["duplicates_exact"], c["duplicates_near"], c["quarantined"]) == (0, 0, {})
    for split, name in (("train", "train.jsonl"), ("eval", "eval.jsonl")):
        assert card["outputs"][name]["rows"] == c["per_split"][split] == sum(c["per_label"][split].values())
    assert list(c["per_label"]["train"]) == list(TASKS[domain].labels)


def test_no_test_row_contaminates_train_and_the_test_split_survives_whole(prepared):
    domain, train, test, card, out = prepared
    assert card["contamination"]["eval_rows_indexed"] == len(test)
    assert card["contamination"]["contaminated"] == 0, card["contamination"]["examples"]
    assert card["counts"]["per_label"]["eval"] == dict(Counter(r["label"] for r in test))
    # The evaluator reads the prepared split as it reads the shipped one.
    task = TASKS[domain]
    assert read_records(out / "eval.jsonl", task) == read_records(SHIPPED_CLS / domain / "test.jsonl", task)


def test_shipped_text_is_already_clean_except_for_masked_pii(prepared):
    """Normalisation changes no shipped text; a prepared text differs only where PII was masked."""
    domain, train, test, card, out = prepared
    kept = [json.loads(line) for name in ("train.jsonl", "eval.jsonl")
            for line in (out / name).read_text(encoding="utf-8").splitlines()]
    shipped = {(str(ROOT / "data_tools/shipped/cls" / domain / f"{split}.jsonl"), i): row
               for split, rows in (("train", train), ("test", test)) for i, row in enumerate(rows, 1)}
    changed = [r for r in kept if r["text"] != shipped[(r["meta"]["source"], r["meta"]["line"])]["text"]]
    assert all(r["label"] == shipped[(r["meta"]["source"], r["meta"]["line"])]["label"] for r in kept)
    assert len(changed) == card["pii"]["rows_with_pii"]
    assert all("[" in r["text"] for r in changed)
