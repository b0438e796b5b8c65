"""`kdtune report`: rebuild the accuracy-per-compute report from existing run or bench directories.

    kdtune report runs/bench/finance-20261123-120000                 # a bench: rewrites its report
    kdtune report runs/a runs/b runs/base --out reports/ab --baseline base
    kdtune report runs/ --group-by user                               # who spent what (device-hours, KRW)
"""
from __future__ import annotations

from pathlib import Path

from trainers.errors import UserError


def cmd_report(args) -> int:
    from trainers.reporting.reporting import collect, write_report
    paths = [Path(p) for p in args.run_dirs]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise UserError(f"not a directory: {', '.join(missing)}")
    if args.group_by:
        return _spending(paths, args.group_by, args.out)
    if args.out:
        out = Path(args.out)
    elif len(paths) == 1 and (paths[0] / "bench.json").is_file():
        out = paths[0]
    else:
        raise UserError("several run directories: say where the report goes with --out DIR")
    arms, baseline = collect(paths)
    title, description, pairs = args.title, "", []
    if len(paths) == 1 and (paths[0] / "bench.json").is_file():
        import json
        import yaml
        bench = json.loads((paths[0] / "bench.json").read_text())
        config = yaml.safe_load((paths[0] / "config.yaml").read_text()) or {}
        # the pairs the bench compares item by item (benches from before bench.json kept them: its config)
        pairs = bench.get("compare") or config.get("compare") or []
        if title is None:
            title = f"kdtune bench: {bench['config']}"
            description = config.get("description", "")
    names = [a["name"] for a in arms]
    for text in args.compare or []:
        pair = [n.strip() for n in text.split(",")]
        if len(pair) != 2 or not all(pair):
            raise UserError(f"--compare {text!r}: give two arm names separated by a comma, e.g. --compare student-kd,student-sft")
        unknown = [n for n in pair if n not in names]
        if unknown:
            raise UserError(f"--compare {text!r}: no arm named {', '.join(map(repr, unknown))}; arms: {', '.join(names)}")
        pairs.append(pair)
    report = write_report(arms, out, args.baseline or baseline, title or "kdtune benchmark", description, pairs)
    print(f"report: {out / 'report.md'} ({len(report['ranking'])} arms ranked, "
          f"{len(report['arms']) - len(report['ranking'])} not finished)")
    return 0


def _spending(paths: list[Path], by: str, out: str | None) -> int:
    from trainers.reporting.usage import spending_markdown, spending_report, write_spending
    report = spending_report(paths, by)
    print(spending_markdown(report), end="")
    if out:
        print(f"written: {write_spending(report, Path(out))}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="rebuild the accuracy-per-compute report from run directories",
                              description=__doc__.strip().splitlines()[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories and/or bench directories")
    p.add_argument("--out", help="output directory (default: the bench directory when given one)")
    p.add_argument("--baseline", help="arm name to measure gains against (default: the base-model arm)")
    p.add_argument("--title", help="report title (default: the bench's name)")
    p.add_argument("--compare", action="append", metavar="A,B",
                   help="also compare arms A and B item by item (exact McNemar); repeatable")
    p.add_argument("--group-by", choices=["user", "config"],
                   help="instead: sum device-hours and KRW over every run under RUN_DIR, per user or config")
    p.set_defaults(func=cmd_report)
