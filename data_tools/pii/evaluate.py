"""Measure `find_pii` on a labelled set: per-kind recall and precision, and false positives.

    python -m data_tools.pii.evaluate tests/data_tools/fixtures/pii_positives.jsonl \
        tests/data_tools/fixtures/pii_negatives.jsonl

Positives: one JSON object a line, {"text": ..., "pii": [{"kind": ..., "text": exact substring}]},
listing *every* identifier in the text. Negatives: {"text": ...} lines with no personal data.
Either may carry a "case" (e.g. "named_invalid": a label names digits that fail validation;
"nonpersonal_valid": validating digits in order/logistics text): those rows are also reported
per case, as recall for positives and flagged rows for negatives.
A gold identifier is found when a predicted span of the same kind overlaps it by at least 90% of
the longer of the two (so exact matches and off-by-a-bracket matches count, sloppy ones don't).
"""

from __future__ import annotations

import sys
from pathlib import Path

from data_tools.errors import DataError
from data_tools.pii.detect import REASONS, THRESHOLD, find_pii
from data_tools.jsonl import text_rows
from data_tools.pii.kinds import PII_KINDS, Span

MIN_OVERLAP = 0.9


def _read_jsonl(path: str | Path) -> list[dict]:
    return [{"line": n, **row} for n, row in text_rows(path)]


def _gold_spans(path: Path, row: dict) -> list[Span]:
    """Turn {"kind", "text"} labels into offsets; repeated strings take successive occurrences."""
    text, spans, search_from = row["text"], [], {}
    for item in row.get("pii", []):
        kind, needle = item.get("kind"), item.get("text")
        if kind not in PII_KINDS:
            raise DataError(f"{path}:{row['line']}: unknown PII kind {kind!r}")
        start = text.find(needle, search_from.get(needle, 0)) if needle else -1
        if start < 0:
            raise DataError(f"{path}:{row['line']}: labelled {kind} {needle!r} is not in the text")
        search_from[needle] = start + len(needle)
        spans.append(Span(kind, start, start + len(needle), needle))
    return spans


def _same(gold: Span, pred: Span) -> bool:
    overlap = min(gold.end, pred.end) - max(gold.start, pred.start)
    longer = max(gold.end - gold.start, pred.end - pred.start)
    return gold.kind == pred.kind and overlap >= MIN_OVERLAP * longer


def _context(text: str, span: Span, width: int = 20) -> str:
    return text[max(0, span.start - width):span.end + width]


def evaluate_pii(positives_path: str | Path, negatives_path: str | Path,
                 threshold: float = THRESHOLD) -> dict:
    """Recall per kind and overall, precision per kind, found spans per reason, recall or flagged
    rows per case, and every false positive with context, at detection `threshold`."""
    positives_path, negatives_path = Path(positives_path), Path(negatives_path)
    gold_n = dict.fromkeys(PII_KINDS, 0)
    found_n = dict.fromkeys(PII_KINDS, 0)
    predicted_n = dict.fromkeys(PII_KINDS, 0)
    correct_pred_n = dict.fromkeys(PII_KINDS, 0)
    false_positives, missed = [], []
    reasons: dict[str, dict[str, int]] = {k: {} for k in PII_KINDS}
    cases: dict[str, dict[str, int]] = {}
    positives = _read_jsonl(positives_path)
    for row in positives:
        gold = _gold_spans(positives_path, row)
        pred = find_pii(row["text"], threshold)
        case = cases.setdefault(row["case"], {"rows": 0, "gold": 0, "found": 0}) \
            if "case" in row else None
        if case is not None:
            case["rows"] += 1
            case["gold"] += len(gold)
        for g in gold:
            gold_n[g.kind] += 1
            hit = next((p for p in pred if _same(g, p)), None)
            if hit is not None:
                found_n[g.kind] += 1
                reasons[g.kind][hit.reason] = reasons[g.kind].get(hit.reason, 0) + 1
                if case is not None:
                    case["found"] += 1
            else:
                missed.append({"line": row["line"], "kind": g.kind, "text": g.text,
                               "predicted": [(p.kind, p.text) for p in pred]})
        for p in pred:
            predicted_n[p.kind] += 1
            if any(_same(g, p) for g in gold):
                correct_pred_n[p.kind] += 1
            else:
                false_positives.append({"file": "positives", "line": row["line"], "kind": p.kind,
                                        "text": p.text, "context": _context(row["text"], p)})
    negatives = _read_jsonl(negatives_path)
    negatives_flagged = negative_rows_flagged = 0
    for row in negatives:
        pred = find_pii(row["text"], threshold)
        negative_rows_flagged += bool(pred)
        if "case" in row:
            case = cases.setdefault(row["case"], {"rows": 0, "rows_flagged": 0})
            case["rows"] += 1
            case["rows_flagged"] += bool(pred)
        for p in pred:
            negatives_flagged += 1
            predicted_n[p.kind] += 1
            false_positives.append({"file": "negatives", "line": row["line"], "kind": p.kind,
                                    "text": p.text, "context": _context(row["text"], p)})
    total_gold = sum(gold_n.values())
    return {
        "recall": {k: found_n[k] / gold_n[k] if gold_n[k] else None for k in PII_KINDS},
        "precision": {k: correct_pred_n[k] / predicted_n[k] if predicted_n[k] else None
                      for k in PII_KINDS},
        "overall_recall": sum(found_n.values()) / total_gold if total_gold else None,
        "gold": gold_n,
        "found": found_n,
        "negatives_flagged": negatives_flagged,
        "negative_rows_flagged": negative_rows_flagged,
        "reasons": reasons,
        "cases": cases,
        "threshold": threshold,
        "false_positives": false_positives,
        "missed": missed,
        "rows": {"positives": len(positives), "negatives": len(negatives)},
    }


def format_report(result: dict, max_examples: int = 20) -> str:
    def pct(x):
        return "   -  " if x is None else f"{x:6.1%}"

    lines = [f"{'kind':<15} {'gold':>5} {'found':>5} {'recall':>7} {'precision':>9}"]
    for kind in PII_KINDS:
        lines.append(f"{kind:<15} {result['gold'][kind]:>5} {result['found'][kind]:>5} "
                     f"{pct(result['recall'][kind]):>7} {pct(result['precision'][kind]):>9}")
    lines.append(f"{'overall':<15} {sum(result['gold'].values()):>5} "
                 f"{sum(result['found'].values()):>5} {pct(result['overall_recall']):>7}")
    rows = result["rows"]
    lines.append(f"rows: {rows['positives']} positive, {rows['negatives']} negative; "
                 f"spans flagged on negatives: {result['negatives_flagged']}; "
                 f"false positives in all: {len(result['false_positives'])}")
    totals: dict[str, int] = {}
    for per_kind in result["reasons"].values():
        for reason, n in per_kind.items():
            totals[reason] = totals.get(reason, 0) + n
    lines.append("found by reason: " + ", ".join(f"{r} {totals[r]}" for r in REASONS if r in totals))
    for name, case in sorted(result["cases"].items()):
        if "gold" in case:
            lines.append(f"case {name}: {case['found']}/{case['gold']} found in {case['rows']} rows")
        else:
            lines.append(f"case {name}: {case['rows_flagged']}/{case['rows']} rows flagged")
    for fp in result["false_positives"][:max_examples]:
        lines.append(f"  FP {fp['file']}:{fp['line']} {fp['kind']} {fp['text']!r} "
                     f"in {fp['context']!r}")
    for miss in result["missed"][:max_examples]:
        lines.append(f"  MISS line {miss['line']} {miss['kind']} {miss['text']!r}, "
                     f"predicted {miss['predicted']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    threshold = THRESHOLD
    if len(argv) == 4 and argv[2] == "--threshold":
        try:
            threshold = float(argv[3])
        except ValueError:
            threshold = -1.0
        argv = argv[:2]
    if len(argv) != 2 or not 0 < threshold <= 1:
        print("usage: python -m data_tools.pii.evaluate POSITIVES.jsonl NEGATIVES.jsonl "
              "[--threshold X, 0 < X <= 1]", file=sys.stderr)
        return 2
    try:
        result = evaluate_pii(argv[0], argv[1], threshold)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
