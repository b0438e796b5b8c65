"""Classification results -> confusion matrix, per-label precision/recall/F1, markdown table.

Rows are the gold labels, columns the predicted ones, plus a last column `NO_LABEL` for generated
answers that match no label (constrained scoring never fills it). Every item lands in exactly one
cell, so the matrix sums to n and row sums are the label supports; the checks below keep it so.
Precision of a label never predicted is None (undefined, not 0); macro averages skip None.
"""
from __future__ import annotations

from typing import Sequence

NO_LABEL = "(no label)"


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int | None], labels: Sequence[str]) -> dict:
    """{"labels", "columns", "matrix"}: matrix[g][p] counts items of gold g predicted p (p = len(labels)
    for an answer that is no label)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    k = len(labels)
    matrix = [[0] * (k + 1) for _ in range(k)]
    for g, p in zip(gold, predicted):
        matrix[g][k if p is None else p] += 1
    assert sum(map(sum, matrix)) == len(gold)
    return {"labels": list(labels), "columns": list(labels) + [NO_LABEL], "matrix": matrix}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def per_label_scores(conf: dict) -> dict:
    """{label: {support, predicted, correct, precision, recall, f1}} and macro averages."""
    m, labels = conf["matrix"], conf["labels"]
    out = {}
    for j, label in enumerate(labels):
        tp, support = m[j][j], sum(m[j])
        predicted = sum(row[j] for row in m)
        p, r = _ratio(tp, predicted), _ratio(tp, support)
        f1 = _ratio(2 * tp, predicted + support)   # = 2PR/(P+R), and 0 (not undefined) when never predicted
        out[label] = {"support": support, "predicted": predicted, "correct": tp,
                      "precision": p, "recall": r, "f1": f1}

    def macro(key: str) -> float | None:
        vals = [v[key] for v in out.values() if v[key] is not None]
        return sum(vals) / len(vals) if vals else None
    return {"per_label": out, "macro": {k: macro(k) for k in ("precision", "recall", "f1")}}


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def confusion_markdown(conf: dict, scores: dict, title: str = "") -> str:
    """The matrix (gold rows × predicted columns) and the per-label table, as GitHub markdown."""
    m, cols = conf["matrix"], conf["columns"]
    used = [j for j in range(len(cols)) if j < len(conf["labels"]) or any(row[j] for row in m)]
    lines = [f"## {title}", ""] if title else []
    lines += ["gold \\ predicted | " + " | ".join(cols[j] for j in used) + " | n",
              "---|" + "---:|" * len(used) + "---:"]
    for label, row in zip(conf["labels"], m):
        lines.append(f"{label} | " + " | ".join(str(row[j]) for j in used) + f" | {sum(row)}")
    lines += ["", "label | support | predicted | precision | recall | F1", "---|---:|---:|---:|---:|---:"]
    for label, s in scores["per_label"].items():
        lines.append(f"{label} | {s['support']} | {s['predicted']} | {_fmt(s['precision'])} | "
                     f"{_fmt(s['recall'])} | {_fmt(s['f1'])}")
    mac = scores["macro"]
    lines.append(f"macro | | | {_fmt(mac['precision'])} | {_fmt(mac['recall'])} | {_fmt(mac['f1'])}")
    return "\n".join(lines) + "\n"
