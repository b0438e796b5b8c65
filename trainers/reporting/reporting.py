"""Accuracy per compute across runs: gather arms from run directories, rank, Pareto, report files.

An arm is one run directory: eval.json gives accuracy with its 95% interval; compute.json gives the
*training* compute (PFLOPs, device-hours, KRW; teacher compute carried in included) — a run whose compute.json is from an evaluation
alone (phase "eval", e.g. the base model) trained nothing and is billed 0. A bench directory
(bench.json) expands into its arms, failures included, so a failed arm shows in the report
with its error instead of vanishing.

Ranking is by accuracy, but the report says where intervals overlap: two arms whose 95% intervals
overlap are not shown to differ by this eval, whatever their order.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from trainers.errors import UserError
from trainers.run.records import ComputeRecord, EvalRecord, ManifestRecord, read_record


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def collect_arm(run_dir: Path, name: str | None = None) -> dict:
    """One arm's row from a run directory (status "no-eval" when it was never evaluated).

    Compute is the record's `totals`: training plus the teacher compute carried in from a cache or
    traces directory the run trained from, or the fine-tuning of a teacher a kdtune run exported; the
    teacher's share — those plus a live teacher's forwards — is also shown alone as `teacher_pflops`).
    A classification eval's per-query inference cost comes along as `inference_gflops` / `_seconds`."""
    run_dir = Path(run_dir)
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) \
        if (run_dir / "config.yaml").is_file() else {}
    manifest = read_record(run_dir / "manifest.json", ManifestRecord)
    ev = read_record(run_dir / "eval.json", EvalRecord)
    comp = read_record(run_dir / "compute.json", ComputeRecord)
    recipe = cfg.get("recipe") or (manifest.recipe if manifest else None)
    trained = (comp is None or comp.phase == "train") and recipe != "eval"
    billed = comp if trained else None
    row = {"name": name or run_dir.name, "run_dir": str(run_dir), "recipe": recipe,
           "method": (manifest.method if manifest else None) or ("base" if recipe == "eval" else None),
           "is_base": recipe == "eval", "status": "ok" if ev else "no-eval", "error": None,
           "pflops": billed.totals.pflops if billed else 0.0,
           # every teacher FLOP in the total: a live teacher's forwards (inside total_flops) and the
           # carried compute of the teacher artefacts (cache, traces, the teacher's own fine-tuning)
           "teacher_pflops": (billed.teacher_flops / 1e15 + (billed.teacher.pflops if billed.teacher else 0.0))
           if billed else 0.0,
           "device_hours": billed.totals.device_hours if billed else 0.0,
           "cost_krw": billed.totals.cost_krw if billed else 0.0,
           "train_seconds": billed.seconds if billed else 0.0,
           "mfu": billed.mfu if billed else None, "gpu": comp.gpu if comp else None,
           "energy_J": billed.energy_J if billed else None}
    if trained and comp is None:
        row["status"], row["error"] = "no-compute", "compute.json missing: training compute unknown"
    if ev:
        ov = ev.overall
        row.update({"accuracy": ov.accuracy, "ci95": list(ov.ci95), "n": ov.n, "missing": ov.missing,
                    "dataset": ev.dataset, "chance": ev.chance,
                    "eval_pflops": (ev.compute or {}).get("pflops"),
                    "eval_cost_krw": (ev.compute or {}).get("cost_krw")})
        per_query = (ev.model_extra or {}).get("per_query")   # classification evals: what one query costs
        if per_query:
            row.update({"inference_gflops": per_query.get("gflops"), "inference_seconds": per_query.get("seconds")})
    elif row["error"] is None:
        row["error"] = "eval.json missing: the run was not evaluated"
    return row


def collect(paths: list[Path]) -> tuple[list[dict], str | None]:
    """Arms from run and bench directories, in the order given -> (arms, baseline name or None)."""
    arms, baseline = [], None
    for p in map(Path, paths):
        bench = _json(p / "bench.json")
        if bench is not None:
            baseline = baseline or bench.get("baseline")
            for a in bench["arms"]:
                if a["status"] == "ok":
                    arms.append(collect_arm(p / a["run_dir"], a["name"]))
                else:
                    arms.append({"name": a["name"], "status": a["status"], "error": a.get("error"),
                                 "run_dir": str(p / a["run_dir"]) if a.get("run_dir") else None,
                                 "is_base": a.get("base_only", False)})
        elif (p / "config.yaml").is_file():
            arms.append(collect_arm(p))
        else:
            raise UserError(f"{p}: neither a run directory (config.yaml) nor a bench directory (bench.json)")
    names = [a["name"] for a in arms]
    if len(set(names)) != len(names):   # same run dir name from two benches: qualify by parent
        for a in arms:
            if names.count(a["name"]) > 1 and a.get("run_dir"):
                a["name"] = f"{Path(a['run_dir']).parent.name}/{a['name']}"
    return arms, baseline


def pareto(points: list[tuple[str, float, float]]) -> list[str]:
    """Names not dominated when lower cost (x) and higher accuracy (y) are better."""
    front = []
    for name, x, y in points:
        dominated = any(x2 <= x and y2 >= y and (x2 < x or y2 > y) for n2, x2, y2 in points if n2 != name)
        if not dominated:
            front.append(name)
    return front


def overlaps(a: dict, b: dict) -> bool:
    return a["ci95"][0] <= b["ci95"][1] and b["ci95"][0] <= a["ci95"][1]


def cost_unit_krw(costs: list[float | None]) -> float:
    """The KRW amount gains are quoted per: the largest power of ten not above the cheapest trained
    arm's cost. No gain is then extrapolated past the money actually spent, so no figure exceeds the
    gain itself (at most 100 points): a 0.42-KRW CPU arm's +1.5 points read "+0.36 pp per 0.1 KRW",
    not "+3,571 pp per 1,000 KRW"; a 12,000-KRW GPU arm's +20 points "+16.67 pp per 10,000 KRW"."""
    spent = [c for c in costs if c and c > 0]
    if not spent:
        return 1.0
    return 10.0 ** math.floor(math.log10(min(spent)))


def krw_amount(unit: float) -> str:
    """1,000 / 1 / 0.01 — thousands separators, no float noise."""
    return f"{unit:,.0f}" if unit >= 1 else f"{unit:.{-math.floor(math.log10(unit))}f}"


def paired_rows(arms: list[dict], pairs) -> list[dict]:
    """Item-by-item comparisons of the named arm pairs (trainers/evaluation/paired.py)."""
    from trainers.evaluation.paired import paired_comparison, verdict
    by_name = {a["name"]: a for a in arms}
    rows = []
    for a, b in pairs:
        missing = [n for n in (a, b) if by_name.get(n, {}).get("status") != "ok"]
        row = {"a": a, "b": b, "error": f"{', '.join(missing)} did not finish"} if missing else \
            paired_comparison(a, Path(by_name[a]["run_dir"]), b, Path(by_name[b]["run_dir"]))
        rows.append({**row, "verdict": verdict(row)})
    return rows


def build_report(arms: list[dict], baseline: str | None = None, title: str = "kdtune benchmark",
                 description: str = "", pairs=()) -> dict:
    ok = [a for a in arms if a["status"] == "ok"]
    # ties in accuracy go to the arm that needed less compute: counted FLOPs are the same on every
    # run of the same config, while cost_krw comes from measured seconds and would let two identical
    # runs rank their tied arms differently
    ranked = sorted(ok, key=lambda a: (-a["accuracy"], a["pflops"] or 0.0, a["name"]))
    for i, a in enumerate(ranked, 1):
        a["rank"] = i
    for a in ranked:
        a["overlaps_with"] = [b["name"] for b in ranked if b is not a and overlaps(a, b)]
    base = next((a for a in ok if a["name"] == baseline), None) if baseline else \
        next((a for a in ok if a.get("is_base")), None)
    unit = cost_unit_krw([a["cost_krw"] for a in ok])
    for a in ok:
        # gains in percentage points of accuracy over the baseline, per `unit` KRW and per PFLOP
        gain = None if base is None else 100.0 * (a["accuracy"] - base["accuracy"])
        counted = gain is not None and a is not base
        a["gain_pp"] = gain
        a["gain_pp_per_cost_unit"] = gain / (a["cost_krw"] / unit) if counted and a["cost_krw"] else None
        a["gain_pp_per_pflop"] = gain / a["pflops"] if counted and a["pflops"] else None
        a["gain_within_noise"] = counted and overlaps(a, base)
    return {"title": title, "description": description, "baseline": base["name"] if base else None,
            "cost_unit_krw": unit,
            "dataset": next((a.get("dataset") for a in ok), None),
            "chance": next((a.get("chance") for a in ok if a.get("chance") is not None), None),
            "ranking": [a["name"] for a in ranked],
            "pareto_pflops": pareto([(a["name"], a["pflops"], a["accuracy"]) for a in ok]),
            "pareto_krw": pareto([(a["name"], a["cost_krw"] or 0.0, a["accuracy"]) for a in ok]),
            # inference cost per query (classification evals record it): what distillation buys
            "pareto_inference": pareto([(a["name"], a["inference_gflops"], a["accuracy"]) for a in ok])
            if ok and all(a.get("inference_gflops") is not None for a in ok) else None,
            "paired": paired_rows(arms, pairs),
            "arms": ranked + [a for a in arms if a["status"] != "ok"]}


def _num(x, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def _amount(x: float | None) -> str:
    """12,000 / 2.35 / 0.0049: a CPU arm's fraction of a won keeps its digits instead of "0.00"."""
    if x is None:
        return "–"
    return "0" if x == 0 else f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}" if abs(x) >= 1 else f"{x:.2g}"


def _signed(x: float) -> str:
    """+3.57, -0.12, +0.0042: two decimals, or two significant digits below 0.01."""
    return f"{x:+.2f}" if abs(x) >= 0.01 or x == 0 else f"{x:+.2g}"


def _method(arm: dict) -> str:
    """'lora', or 'distill/lora' for a recipe other than plain SFT."""
    method = arm.get("method") or "–"
    return method if arm.get("recipe") in ("sft", "eval", None) else f"{arm['recipe']}/{method}"


def markdown(report: dict) -> str:
    lines = [f"# {report['title']}", ""] + ([report["description"], ""] if report.get("description") else [])
    if report.get("dataset"):
        chance = f" (chance: {report['chance']:.0%})" if report.get("chance") else ""
        lines += [f"Eval set: `{report['dataset']}`{chance}; baseline: {report['baseline'] or 'none'}. "
                  f"Accuracy with its 95% interval; compute and cost are for training.", ""]
    unit = report.get("cost_unit_krw", 1.0)
    # classification benches also show what a query costs to serve, and where each arm's training
    # compute went to a teacher (a KD student's PFLOPs include its teacher's fine-tuning and forwards)
    infer = report.get("pareto_inference") is not None
    keys = ("pareto_pflops", "pareto_krw") + (("pareto_inference",) if infer else ())
    if infer:
        lines += ["| rank | arm | method | accuracy [95% CI] | n | training PFLOPs (teacher) | device-hours | KRW "
                  "| inference GFLOPs/query | latency s/query | "
                  f"Δacc (pp) per {krw_amount(unit)} KRW | Pareto (PFLOP / KRW / inference) | intervals overlap with |",
                  "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    else:
        lines += ["| rank | arm | method | accuracy [95% CI] | n | PFLOPs | device-hours | KRW | "
                  f"Δacc (pp) per {krw_amount(unit)} KRW | Pareto (PFLOP / KRW) | intervals overlap with |",
                  "|---:|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for a in report["arms"]:
        if a["status"] != "ok":
            err = (a.get("error") or "").strip().splitlines()
            lines.append(f"| – | {a['name']} | – | **{a['status']}**: {err[-1][:120] if err else ''} "
                         f"| | | | | | | |" + (" | |" if infer else ""))
            continue
        lo, hi = a["ci95"]
        gain = a["gain_pp_per_cost_unit"]
        gain = "–" if gain is None else _signed(gain) + ("†" if a["gain_within_noise"] else "")
        par = "/".join("✓" if a["name"] in report[k] else "·" for k in keys)
        pflops = _num(a["pflops"], ".3g")
        cost = f"| {_amount(a['device_hours'])} | {_amount(a['cost_krw'])} |"
        if infer:
            if a.get("teacher_pflops"):
                pflops += f" ({a['teacher_pflops']:.3g})"
            cost += f" {_num(a.get('inference_gflops'), '.3g')} | {_num(a.get('inference_seconds'), '.3g')} |"
        lines.append(
            f"| {a['rank']} | {a['name']} | {_method(a)} | {a['accuracy']:.1%} "
            f"[{lo:.1%}, {hi:.1%}] | {a['n']} | {pflops} {cost} {gain} | {par} "
            f"| {', '.join(a['overlaps_with']) or 'none'} |")
    if infer:
        lines += ["", "Training PFLOPs include every teacher FLOP, shown again in brackets: a KD student's "
                      "teacher forwards and the fine-tuning of the teacher it learned from. Inference: FLOPs and "
                      "measured wall seconds per classified text in this eval (prompt + label scoring, this "
                      "machine, one process)."]
    ranked = [a for a in report["arms"] if a["status"] == "ok"]
    if report.get("baseline") and len(ranked) > 1:
        lines += ["", f"Δacc: accuracy minus {report['baseline']}'s, in percentage points, per {krw_amount(unit)} "
                      f"KRW of training (the cheapest trained arm's cost rounded down to a power of ten). "
                      f"†: the arm's interval overlaps the baseline's, so its gain is within this eval's noise."]
    if len(ranked) > 1:
        top = ranked[0]
        tied = top["overlaps_with"]
        lines += ["", (f"The top arm ({top['name']})'s interval overlaps {len(tied)} of the other "
                       f"{len(ranked) - 1} arms ({', '.join(tied)}): this eval does not separate them; "
                       f"their order is not evidence that one is better." if tied else
                       f"The top arm ({top['name']})'s interval overlaps no other arm's.")]
    if report.get("paired"):
        lines += ["", "**Paired on the same items** (only-A / only-B: items just one of the two got right; "
                      "exact McNemar test on those, two-sided):", "",
                  "| A vs B | n | both right | only A | only B | both wrong | Δ (pp) | p | verdict |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in report["paired"]:
            if "error" in r:
                lines.append(f"| {r['a']} vs {r['b']} | | | | | | | | {r['verdict']} |")
            else:
                lines.append(f"| {r['a']} vs {r['b']} | {r['n']} | {r['both_right']} | {r['only_a']} | "
                             f"{r['only_b']} | {r['both_wrong']} | {r['diff_pp']:+.1f} | "
                             f"{r['p_exact_mcnemar']:.3g} | {r['verdict']} |")
    failed = [a for a in report["arms"] if a["status"] != "ok"]
    if failed:
        lines += ["", f"{len(failed)} arm(s) did not finish: " +
                  "; ".join(f"{a['name']} ({a['status']})" for a in failed) + ". Details in report.json."]
    return "\n".join(lines) + "\n"


def write_report(arms: list[dict], out_dir: Path, baseline: str | None = None,
                 title: str = "kdtune benchmark", description: str = "", pairs=()) -> dict:
    """report.json, report.md and the plots (accuracy vs training PFLOPs and KRW; vs inference GFLOPs
    per query when the evals recorded it) in out_dir; returns the report."""
    from trainers.reporting.report_plots import plot_accuracy_vs
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(arms, baseline, title, description, pairs)
    report["plots"] = {
        "pflops": plot_accuracy_vs(report, "pflops", "training compute", out_dir / "accuracy_vs_pflops.png"),
        "krw": plot_accuracy_vs(report, "cost_krw", "training cost (KRW)", out_dir / "accuracy_vs_krw.png"),
    }
    images = "\n![accuracy vs PFLOPs](accuracy_vs_pflops.png)\n![accuracy vs KRW](accuracy_vs_krw.png)\n"
    if report.get("pareto_inference") is not None:
        report["plots"]["inference"] = plot_accuracy_vs(report, "inference_gflops", "inference compute per query",
                                                        out_dir / "accuracy_vs_inference_gflops.png")
        images += "![accuracy vs inference GFLOPs per query](accuracy_vs_inference_gflops.png)\n"
    (out_dir / "report.md").write_text(markdown(report) + images, encoding="utf-8")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n",
                                         encoding="utf-8")
    return report
