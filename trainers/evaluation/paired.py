"""Two arms scored on the same items, compared item by item.

Two accuracies whose 95% intervals overlap may still differ for real: both arms answered the same
96 questions, so what counts is the items only one of them got right. With `only_a` such items for
arm A and `only_b` for arm B, the exact McNemar test asks how likely a split at least that uneven is
when either arm is equally likely to be the one that is right on a disputed item: a two-sided
binomial test of min(only_a, only_b) out of only_a + only_b at p = 1/2. Items both got right or both
got wrong say nothing about which is better and do not enter it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

SEPARATED_AT = 0.05


def exact_mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value (1.0 when no item is disputed)."""
    if only_a < 0 or only_b < 0:
        raise ValueError(f"negative counts: {only_a}, {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2.0 * tail)


def item_outcomes(run_dir: Path) -> tuple[dict[str, bool] | None, str | None]:
    """{item id: right?} from a run's eval.json `predictions` -> (outcomes, None) or (None, why not)."""
    path = Path(run_dir) / "eval.json"
    try:
        ev = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, f"cannot read {path}: {e}"
    rows = ev.get("predictions")
    if not rows:
        return None, f"{path} lists no per-item predictions (written by classification evals since 2026-11-29)"
    return {r["id"]: r["predicted"] == r["gold"] for r in rows}, None


def compare_items(a: dict[str, bool], b: dict[str, bool]) -> dict:
    """Counts over the items both were scored on, the accuracy difference and the exact McNemar p."""
    if set(a) != set(b):
        raise ValueError(f"the two evals were not on the same items ({len(a)} vs {len(b)} ids, "
                         f"{len(set(a) & set(b))} shared)")
    both = sum(a[i] and b[i] for i in a)
    only_a = sum(a[i] and not b[i] for i in a)
    only_b = sum(b[i] and not a[i] for i in a)
    n = len(a)
    p = exact_mcnemar_p(only_a, only_b)
    return {"n": n, "both_right": both, "only_a": only_a, "only_b": only_b,
            "both_wrong": n - both - only_a - only_b,
            "diff_pp": 100.0 * (only_a - only_b) / n if n else 0.0,
            "p_exact_mcnemar": p, "separated": p < SEPARATED_AT}


def paired_comparison(name_a: str, dir_a: Path, name_b: str, dir_b: Path) -> dict:
    """One report row: arm A vs arm B on their shared eval items, or the reason it cannot be made."""
    row = {"a": name_a, "b": name_b}
    outcomes = []
    for d in (dir_a, dir_b):
        got, why = item_outcomes(d)
        if got is None:
            return {**row, "error": why}
        outcomes.append(got)
    try:
        return {**row, **compare_items(*outcomes)}
    except ValueError as e:
        return {**row, "error": str(e)}


def verdict(row: dict) -> str:
    """The plain-words reading of one comparison."""
    if "error" in row:
        return f"not compared: {row['error']}"
    better, worse = (row["a"], row["b"]) if row["only_a"] >= row["only_b"] else (row["b"], row["a"])
    if row["only_a"] == row["only_b"]:
        return "no difference on these items"
    if row["separated"]:
        return f"{better} is better on these items (p = {row['p_exact_mcnemar']:.3g} < {SEPARATED_AT})"
    return (f"{better} ahead by {abs(row['diff_pp']):.1f} points, but not separated by this eval "
            f"(p = {row['p_exact_mcnemar']:.2f})")
