"""Confusion matrix and per-label scores: counts add up to n, precision/recall from their definitions;
the PNG renders Korean labels (or romanises them when no Korean font exists)."""
import random

import pytest

from trainers.evaluation.cls_metrics import NO_LABEL, confusion_markdown, confusion_matrix, per_label_scores
from trainers.evaluation.cls_plot import korean_font, plot_confusion, romanise

LABELS = ["대출", "예금·적금", "카드", "보험", "펀드·투자", "외환·송금", "전자금융사기", "연금"]


def random_results(n: int, seed: int):
    rng = random.Random(seed)
    gold = [rng.randrange(8) for _ in range(n)]
    pred = [g if rng.random() < 0.4 else (None if rng.random() < 0.2 else rng.randrange(8)) for g in gold]
    return gold, pred


@pytest.mark.parametrize("seed", range(5))
def test_confusion_counts_add_up_and_scores_follow_their_definitions(seed):
    gold, pred = random_results(97, seed)
    conf = confusion_matrix(gold, pred, LABELS)
    m = conf["matrix"]
    assert conf["columns"] == LABELS + [NO_LABEL]
    assert sum(map(sum, m)) == 97
    assert [sum(row) for row in m] == [gold.count(j) for j in range(8)]
    assert sum(row[8] for row in m) == pred.count(None)
    assert sum(m[j][j] for j in range(8)) == sum(g == p for g, p in zip(gold, pred))
    scores = per_label_scores(conf)["per_label"]
    for j, label in enumerate(LABELS):
        tp = sum(g == p == j for g, p in zip(gold, pred))
        n_pred, n_gold = pred.count(j), gold.count(j)
        s = scores[label]
        assert (s["correct"], s["predicted"], s["support"]) == (tp, n_pred, n_gold)
        assert s["precision"] == (pytest.approx(tp / n_pred) if n_pred else None)
        assert s["recall"] == pytest.approx(tp / n_gold)
        p, r = tp / n_pred if n_pred else 0.0, tp / n_gold
        assert s["f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)


def test_undefined_precision_is_none_and_skipped_by_the_macro_average():
    conf = confusion_matrix([0, 0, 1, 1], [0, 0, 0, None], ["버", "크랙"])
    out = per_label_scores(conf)
    assert out["per_label"]["크랙"]["precision"] is None and out["per_label"]["크랙"]["f1"] == 0.0
    assert out["macro"]["precision"] == pytest.approx(2 / 3)        # only 버's precision exists
    assert out["macro"]["recall"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        confusion_matrix([0], [0, 1], ["버", "크랙"])


def test_markdown_table_has_a_row_per_label_and_the_no_label_column_only_when_used():
    gold, pred = random_results(40, 1)
    conf = confusion_matrix(gold, pred, LABELS)
    md = confusion_markdown(conf, per_label_scores(conf), "finance")
    rows = [line for line in md.splitlines() if line.split(" | ")[0] in LABELS]
    assert len(rows) == 16                                             # 8 in the matrix, 8 in the scores
    assert sum(int(r.rsplit(" | ", 1)[1]) for r in rows[:8]) == 40
    assert NO_LABEL in md
    constrained = confusion_matrix(gold, [p if p is not None else 0 for p in pred], LABELS)
    assert NO_LABEL not in confusion_markdown(constrained, per_label_scores(constrained))


def test_romanisation():
    assert romanise("스크래치") == "seukeuraechi"
    assert romanise("외환·송금") == "oehwan-songgeum"
    assert romanise("치수 불량") == "chisu bulryang"         # letter by letter: no sound-change rules
    assert romanise("정신건강의학과") == "jeongsingeongangui" + "hakgwa"
    assert romanise("ECG 2회") == "ECG 2hoe"


def test_png_is_written_with_a_korean_font(tmp_path):
    font, how = korean_font()
    assert font is not None, how           # koreanize-matplotlib is a dependency: a font always exists
    gold, pred = random_results(30, 2)
    out = tmp_path / "c.png"
    assert plot_confusion(confusion_matrix(gold, pred, LABELS), out, "finance") == how
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
