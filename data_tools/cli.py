"""`kdtune data ...`: prepare datasets, scan files for personal data, generate synthetic tasks.

    kdtune data prepare --config configs/data/finance.yaml [dotted.key=value ...]
    kdtune data prepare --input raw.jsonl --out data/prepared/raw
    kdtune data pii export.csv [--out redacted.csv --mode mask|pseudonymize|drop] [--check]
    kdtune data synth --domain finance --n 2000 --out data/synth/finance [--seed 0]

The kdtune console script adds these with `register(subparsers)`; standalone:
    python -m data_tools.cli data prepare --input raw.jsonl --out out/
Bad input (a missing file, an unknown config key) prints one message and exits 2, no traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys

from data_tools.errors import DataError


def register(subparsers) -> None:
    """Add the `data` command and its sub-commands to an argparse subparsers object."""
    data = subparsers.add_parser("data", help="prepare, scan and synthesise Korean datasets",
                                 description="Turn raw Korean data into clean chat/MCQA datasets.")
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    prepare = commands.add_parser(
        "prepare", help="raw files -> train/eval/quarantine JSONL + datacard.json",
        description="Ingest, normalise, redact PII, filter, dedup, split and check contamination. "
                    "Writes train.jsonl, eval.jsonl, quarantine.jsonl and, last, datacard.json.")
    source = prepare.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="YAML config (configs/data/*.yaml)")
    source.add_argument("--input", action="append", metavar="FILE",
                        help="input file or datasets directory, default pipeline (repeatable; needs --out)")
    prepare.add_argument("--out", help="output directory (overrides output.dir)")
    prepare.add_argument("--workers", type=int, help="processes for the per-row stage (default: all cores)")
    prepare.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                         help="progress bar (default: only on a terminal)")
    prepare.add_argument("overrides", nargs="*", metavar="dotted.key=value",
                         help="config overrides, e.g. quality.min_hangul_ratio=0.5")
    prepare.set_defaults(func=run_prepare)

    pii = commands.add_parser("pii", help="count personal data in a JSONL/CSV/text file",
                              description="Count resident numbers, phones, cards, accounts, e-mails "
                                          "and other PIPA identifiers per kind; optionally write a redacted copy.")
    pii.add_argument("file", help="the JSONL, CSV or text file to scan (read only; see --out)")
    pii.add_argument("--out", help="write a redacted copy here (same format)")
    pii.add_argument("--mode", choices=("mask", "pseudonymize", "drop"), default="mask",
                     help="with --out: replace each hit by its kind ([주민등록번호]), by a stable fake value "
                          "of the same kind, or drop rows that hold any (default: mask)")
    pii.add_argument("--seed", type=int, default=0, help="pseudonym seed")
    pii.add_argument("--threshold", type=float, default=None,
                     help="detection score a candidate needs, 0 < X <= 1 (default 0.5; see docs/privacy.md)")
    pii.add_argument("--format", choices=("auto", "jsonl", "csv", "text"), default="auto",
                     help="how to read FILE (default: from its extension)")
    pii.add_argument("--check", action="store_true", help="exit 1 when any personal data is found")
    pii.set_defaults(func=run_pii)

    synth = commands.add_parser("synth", help="generate verifiable synthetic Korean word problems",
                                description="Write train.jsonl, test.jsonl and datacard.json of synthetic tasks.")
    synth.add_argument("--domain", required=True, help="finance, manufacturing or healthcare")
    synth.add_argument("--n", type=int, required=True, help="number of rows")
    synth.add_argument("--out", required=True, help="output directory")
    synth.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same rows")
    synth.set_defaults(func=run_synth)


def _reports_data_errors(handler):
    """DataError -> one line on stderr and exit code 2 (a user mistake, not a crash)."""
    @functools.wraps(handler)
    def wrapped(args) -> int:
        try:
            return handler(args)
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return wrapped


@_reports_data_errors
def run_prepare(args) -> int:
    from data_tools.prepare import prepare
    from data_tools.prepare_config import default_config, load_prepare_config

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"output.dir={args.out}")
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    if args.config:
        cfg = load_prepare_config(args.config, overrides)
    else:
        if not args.out:
            raise DataError("--input needs --out DIR (or use --config FILE)")
        cfg = default_config(args.input, args.out, overrides)
    card = prepare(cfg, progress=args.progress)
    counts = card["counts"]
    print(f"{cfg.name}: {counts['in']} rows in -> {counts['per_split']['train']} train, "
          f"{counts['per_split']['eval']} eval")
    print(f"  duplicates: {counts['duplicates_exact']} exact, {counts['duplicates_near']} near")
    print(f"  quarantined: {counts['quarantined_total']}{_by_reason(counts['quarantined'])}")
    print(f"  filtered: {counts['filtered_total']}{_by_reason(counts['filtered'])}")
    print(f"  contaminated train rows: {counts['contaminated']} ({cfg.contamination.action})")
    if card["pii"].get("enabled"):
        print(f"  personal data redacted ({card['pii']['mode']}): {card['pii']['total']}"
              f"{_by_reason({k: v for k, v in card['pii']['counts'].items() if v})}")
        if card["pii"]["reasons"]:
            print(f"  personal data found by{_by_reason(card['pii']['reasons'])}")
    print(f"  wrote {cfg.output.dir}/datacard.json")
    return 0


@_reports_data_errors
def run_pii(args) -> int:
    from data_tools.pii import Redactor
    from data_tools.pii_scan import scan_file

    threshold = {} if args.threshold is None else {"threshold": args.threshold}
    result = scan_file(args.file, Redactor(mode=args.mode, seed=args.seed, **threshold), args.out, args.format)
    report = result["report"]
    print(f"{result['file']} ({result['format']}): {result['lines']} lines, "
          f"{result['lines_with_pii']} with personal data, {report['total']} found")
    width = max(len(kind) for kind in report["counts"])
    for kind, n in report["counts"].items():
        print(f"  {kind:<{width}}  {n}")
    if report["reasons"]:
        print("  found by: " + ", ".join(f"{r} {n}" for r, n in report["reasons"].items()))
    if args.out:
        print(f"redacted copy ({args.mode}): {args.out}")
    return 1 if args.check and report["total"] else 0


@_reports_data_errors
def run_synth(args) -> int:
    from data_tools.synth import DOMAINS, write_synth

    if args.domain not in DOMAINS:
        raise DataError(f"--domain {args.domain!r}: choose one of {', '.join(DOMAINS)}")
    if args.n < 1:
        raise DataError(f"--n {args.n}: must be at least 1")
    summary = write_synth(args.domain, args.n, args.out, seed=args.seed)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def _by_reason(counts: dict) -> str:
    return " (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")" if counts else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kdtune", description="kdtune data tools")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
