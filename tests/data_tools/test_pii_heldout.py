"""find_pii on the held-out labelled set (sentences written without reading the detector's rules).

The floors are the figures measured after the held-out fixes (docs/privacy.md, "After the
held-out fixes") less a small margin: one identifier per kind and overall, one row more flagged.
They are not 100% because the detector is not: a change that loses more than that fails here,
and a change that gains should raise the floor. Never edit the held-out sentences to make this
pass. The set is no longer blind (its misses were read to choose those general fixes): it now
guards against regressions, and new blind rows are what would measure generalisation again.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from data_tools.pii import PII_KINDS, evaluate_pii

FIXTURES = Path(__file__).parent / "fixtures"
POSITIVES = FIXTURES / "pii_heldout_positives.jsonl"
NEGATIVES = FIXTURES / "pii_heldout_negatives.jsonl"

# kind: (gold identifiers in the set, found at the default threshold when measured)
# (before the fixes: rrn 26, passport 8, licence 12, phone 55, card 14, brn 11, crn 7, bank 17)
MEASURED = {
    "rrn": (29, 27), "frn": (12, 12), "passport": (13, 13), "driver_license": (14, 14),
    "phone": (59, 58), "email": (19, 17), "card": (16, 16), "brn": (12, 12), "crn": (9, 9),
    "bank_account": (22, 19),
}


@pytest.fixture(scope="module")
def default():
    return evaluate_pii(POSITIVES, NEGATIVES)


def test_heldout_set_is_well_formed():
    rows = [json.loads(line) for line in POSITIVES.read_text("utf-8").splitlines()]
    negatives = NEGATIVES.read_text("utf-8").splitlines()
    assert len(rows) >= 150 and len(negatives) >= 150
    for row in rows:
        for span in row["pii"]:
            assert row["text"][span["start"]:span["end"]] == span["text"], row
    assert {span["kind"] for row in rows for span in row["pii"]} == set(PII_KINDS)


def test_heldout_files_are_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("make_pii_heldout",
                                                  FIXTURES / "make_pii_heldout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for path in (POSITIVES, NEGATIVES):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_recall_per_kind_does_not_regress(default):
    for kind, (gold, found) in MEASURED.items():
        assert default["gold"][kind] == gold, kind
        assert default["found"][kind] >= found - 1, (kind, default["missed"])
    assert default["overall_recall"] >= 196 / 205  # measured 197/205 = 96.1% (before: 87.3%)


def test_false_positives_do_not_grow(default):
    # measured: 2 spans on 2 of 150 negative rows, 1 more in a positive row (a wrong kind)
    # (before the fixes: 4 rows, 6 spans)
    assert default["negative_rows_flagged"] <= 3, default["false_positives"]
    assert len(default["false_positives"]) <= 4, default["false_positives"]
    for kind in PII_KINDS:  # measured precision: 0.95 (bank_account) .. 1.0
        assert default["precision"][kind] is None or default["precision"][kind] >= 0.9, kind


def test_context_cases(default):
    cases = default["cases"]
    # a label names digits that fail validation (measured 16/16; 10/16 before the fixes)
    assert cases["named_invalid"]["gold"] == 16 and cases["named_invalid"]["found"] >= 15
    # full-width digits and U+FF0D dashes (measured 3/3; 0/3 before)
    assert cases["fullwidth"]["gold"] == 3 and cases["fullwidth"]["found"] >= 2
    # validating numbers in order/coupon text (measured 0/33 rows flagged; 2/33 before)
    assert cases["nonpersonal_valid"]["rows"] == 33
    assert cases["nonpersonal_valid"]["rows_flagged"] <= 1
    # a label word with no identifier, or a masked one (measured 0/36)
    assert cases["label_lookalike"]["rows_flagged"] <= 1
    # personal data next to order/lot/tracking numbers (measured 10/10)
    assert cases["near_nonpersonal"]["found"] >= 9


def test_threshold_curve_trades_recall_for_false_positives(default):
    curve = [evaluate_pii(POSITIVES, NEGATIVES, threshold=t) for t in (0.3, 0.7, 0.9)]
    lax, strict, strictest = curve
    recalls = [lax["overall_recall"], default["overall_recall"], strict["overall_recall"],
               strictest["overall_recall"]]
    flagged = [len(r["false_positives"]) for r in (lax, default, strict, strictest)]
    assert recalls == sorted(recalls, reverse=True) and flagged == sorted(flagged, reverse=True)
    # measured: 0.3 -> 96.6% recall, 5 false positives; 0.9 -> 62.0%, none
    assert lax["negative_rows_flagged"] > default["negative_rows_flagged"]
    assert strictest["overall_recall"] < default["overall_recall"] - 0.2
