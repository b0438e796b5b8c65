"""Who spent what: device-hours and won summed per user or per config over a tree of run directories.

    kdtune report runs/ --group-by user        # a lab's shared runs/ directory, or several

Every directory holding a compute.json is one piece of work (a training run, an evaluation, a
distillation cache, traces; bench arms too). Each is counted once with its OWN device-hours and
cost: the teacher compute a run carries in (compute.json `teacher`, `totals`) is already counted in
the directory that spent it, so summing `totals` would bill it twice. A run without compute.json
(still running, pre-empted before its end, or failed) has not recorded its spending yet: it is
listed as not counted rather than guessed.

The user is the manifest's `user` (kdtune records it); for runs made before that, the owner of
compute.json. The config is the manifest's `config`, else the run directory's name less its
`-YYYYmmdd-HHMMSS` suffix. Rows so inferred are counted in the `inferred` column.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from trainers.run.records import ComputeRecord, ManifestRecord, read_record

GROUPS = ("user", "config")
_STAMP = re.compile(r"-\d{8}-\d{6}(-\d+)?(-smoke)?$")


@dataclass
class Spend:
    run_dir: Path
    user: str
    config: str
    phase: str
    device_hours: float
    cost_krw: float | None
    inferred: bool


def _owner(path: Path) -> str:
    import pwd
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def spend_of(run_dir: Path) -> Spend:
    comp = read_record(run_dir / "compute.json", ComputeRecord)
    manifest = read_record(run_dir / "manifest.json", ManifestRecord)
    user = manifest.user if manifest and manifest.user else None
    config = manifest.config if manifest and manifest.config else None
    return Spend(run_dir=run_dir, user=user or _owner(run_dir / "compute.json"),
                 config=config or _STAMP.sub("", run_dir.name), phase=comp.phase,
                 device_hours=comp.device_hours, cost_krw=comp.cost_krw, inferred=user is None or config is None)


def collect_spending(roots: list[Path]) -> tuple[list[Spend], list[Path]]:
    """-> (every directory under `roots` with a compute.json, training runs without one: those with
    the history.jsonl every training run starts with)."""
    spent = [spend_of(f.parent) for root in roots for f in sorted(root.rglob("compute.json"))]
    uncounted = [f.parent for root in roots for f in sorted(root.rglob("history.jsonl"))
                 if not (f.parent / "compute.json").is_file()]
    return spent, uncounted


def group_spending(spent: list[Spend], by: str) -> list[dict]:
    """One row per user or config, most device-hours first; sums over its runs."""
    rows: dict[str, dict] = {}
    for s in spent:
        key = getattr(s, by)
        row = rows.setdefault(key, {by: key, "runs": 0, "device_hours": 0.0, "cost_krw": 0.0,
                                    "unpriced_runs": 0, "inferred": 0, "phases": {}})
        row["runs"] += 1
        row["device_hours"] += s.device_hours
        if s.cost_krw is None:
            row["unpriced_runs"] += 1
        else:
            row["cost_krw"] += s.cost_krw
        row["inferred"] += s.inferred
        row["phases"][s.phase] = row["phases"].get(s.phase, 0) + 1
    return sorted(rows.values(), key=lambda r: (-r["device_hours"], r[by]))


def spending_report(roots: list[Path], by: str) -> dict:
    spent, uncounted = collect_spending(roots)
    groups = group_spending(spent, by)
    return {"group_by": by, "roots": [str(r) for r in roots], "groups": groups,
            "total": {"runs": len(spent), "device_hours": sum(s.device_hours for s in spent),
                      "cost_krw": sum(s.cost_krw for s in spent if s.cost_krw is not None)},
            "not_counted": [str(d) for d in uncounted]}


def spending_markdown(report: dict) -> str:
    by = report["group_by"]
    lines = [f"| {by} | runs | device-hours | KRW | unpriced runs | inferred {by} | phases |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for g in report["groups"]:
        phases = ", ".join(f"{k} {v}" for k, v in sorted(g["phases"].items()))
        lines.append(f"| {g[by]} | {g['runs']} | {g['device_hours']:.4f} | {g['cost_krw']:,.0f} | "
                     f"{g['unpriced_runs']} | {g['inferred']} | {phases} |")
    t = report["total"]
    lines.append(f"| **total** | {t['runs']} | {t['device_hours']:.4f} | {t['cost_krw']:,.0f} | | | |")
    if report["not_counted"]:
        lines += ["", f"Not counted (no compute.json yet: running, stopped before the end, or failed): "
                      f"{len(report['not_counted'])} run(s): " + ", ".join(report["not_counted"])]
    return "\n".join(lines) + "\n"


def write_spending(report: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"spending_by_{report['group_by']}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    path = out / f"spending_by_{report['group_by']}.md"
    path.write_text(spending_markdown(report), encoding="utf-8")
    return path
