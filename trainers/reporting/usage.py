"""Who spent what: device-hours and won summed per user or per config over a tree of run directories.

    kdtune report runs/ --group-by user        # a lab's shared runs/ directory, or several

Every directory holding a compute.json is one piece of work (a training run, an evaluation, a
distillation cache, traces; bench arms too). Each is counted once with its OWN device-hours and
cost: the teacher compute a run carries in (compute.json `teacher`, `totals`) is already counted in
the directory that spent it, so summing `totals` would bill it twice.

A training run without compute.json (still running, pre-empted and never continued, or failed) is
counted up to its last checkpoint, whose state.json holds what the run had spent by then (`spent`);
the time after that checkpoint is lost with it and not guessed. Such rows are counted in the
`unfinished` column. A run without even a checkpoint (or from before checkpoints recorded their
spending) is listed as not counted.

The user is the manifest's `user` (kdtune records it; an unfinished run's is in its history.jsonl
start event); for runs made before that, the owner of the record. The config likewise, else the run
directory's name less its `-YYYYmmdd-HHMMSS` suffix. Rows so inferred are counted in `inferred`.
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
    unfinished: bool = False   # counted up to its last checkpoint (no compute.json)


def _owner(path: Path) -> str:
    import pwd
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _spend(run_dir: Path, comp: ComputeRecord, record: Path, user: str | None, config: str | None,
           unfinished: bool = False) -> Spend:
    """A row from a compute record; a user or config the run did not record is inferred (the record
    file's owner, the directory name less its timestamp) and the row says so."""
    return Spend(run_dir=run_dir, user=user or _owner(record), config=config or _STAMP.sub("", run_dir.name),
                 phase=comp.phase, device_hours=comp.device_hours, cost_krw=comp.cost_krw,
                 inferred=not (user and config), unfinished=unfinished)


def spend_of(run_dir: Path) -> Spend:
    comp = read_record(run_dir / "compute.json", ComputeRecord)
    manifest = read_record(run_dir / "manifest.json", ManifestRecord)
    return _spend(run_dir, comp, run_dir / "compute.json", manifest.user if manifest else None,
                  manifest.config if manifest else None)


def _started_by(run_dir: Path) -> dict:
    """The history.jsonl start event (user, config), or {} for runs from before it recorded them."""
    try:
        for line in (run_dir / "history.jsonl").read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event.get("event") == "start":
                return event
    except (OSError, ValueError):
        pass
    return {}


def unfinished_spend_of(run_dir: Path) -> Spend | None:
    """A run that never wrote compute.json, as spent up to its newest complete checkpoint; None when
    no checkpoint says what it spent."""
    from trainers.run.checkpoint import latest_checkpoint
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        return None
    try:
        state = json.loads((ckpt / "state.json").read_text())
        comp = ComputeRecord.model_validate(state["spent"])
    except (OSError, ValueError, KeyError):
        return None
    start = _started_by(run_dir)
    return _spend(run_dir, comp, ckpt / "state.json", start.get("user"), start.get("config"), unfinished=True)


def collect_spending(roots: list[Path]) -> tuple[list[Spend], list[Path]]:
    """-> (every directory under `roots` with a compute.json, and every training run without one —
    a directory with the history.jsonl every training run starts — counted to its last checkpoint;
    those that have none with a recorded spend)."""
    spent = [spend_of(f.parent) for root in roots for f in sorted(root.rglob("compute.json"))]
    uncounted = []
    for run_dir in (f.parent for root in roots for f in sorted(root.rglob("history.jsonl"))):
        if (run_dir / "compute.json").is_file():
            continue
        partial = unfinished_spend_of(run_dir)
        if partial is None:
            uncounted.append(run_dir)
        else:
            spent.append(partial)
    return spent, uncounted


def group_spending(spent: list[Spend], by: str) -> list[dict]:
    """One row per user or config, most device-hours first; sums over its runs."""
    rows: dict[str, dict] = {}
    for s in spent:
        key = getattr(s, by)
        row = rows.setdefault(key, {by: key, "runs": 0, "device_hours": 0.0, "cost_krw": 0.0,
                                    "unpriced_runs": 0, "inferred": 0, "unfinished": 0, "phases": {}})
        row["runs"] += 1
        row["device_hours"] += s.device_hours
        if s.cost_krw is None:
            row["unpriced_runs"] += 1
        else:
            row["cost_krw"] += s.cost_krw
        row["inferred"] += s.inferred
        row["unfinished"] += s.unfinished
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
    lines = [f"| {by} | runs | device-hours | KRW | unpriced runs | inferred {by} | unfinished | phases |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for g in report["groups"]:
        phases = ", ".join(f"{k} {v}" for k, v in sorted(g["phases"].items()))
        lines.append(f"| {g[by]} | {g['runs']} | {g['device_hours']:.4f} | {g['cost_krw']:,.0f} | "
                     f"{g['unpriced_runs']} | {g['inferred']} | {g.get('unfinished', 0)} | {phases} |")
    t = report["total"]
    lines.append(f"| **total** | {t['runs']} | {t['device_hours']:.4f} | {t['cost_krw']:,.0f} | | | | |")
    if any(g.get("unfinished") for g in report["groups"]):
        lines += ["", "Unfinished runs (no compute.json: running, stopped before the end, or failed) are "
                      "counted up to their last checkpoint."]
    if report["not_counted"]:
        lines += ["", f"Not counted (no compute.json and no checkpoint that records its spending): "
                      f"{len(report['not_counted'])} run(s): " + ", ".join(report["not_counted"])]
    return "\n".join(lines) + "\n"


def write_spending(report: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"spending_by_{report['group_by']}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    path = out / f"spending_by_{report['group_by']}.md"
    path.write_text(spending_markdown(report), encoding="utf-8")
    return path
