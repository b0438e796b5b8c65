"""Audit a trained model for memorisation: canary exposure and verbatim extraction -> memorization.json/.md.

    kdtune data prepare --config my_data.yaml privacy.canaries.repetitions=[1,4,32]   # plant canaries
    kdtune run sft --config my_sft.yaml data.path=data/prepared/my                     # train as usual
    kdtune audit memorization run=runs/my_sft-20261201-101500                          # then audit
    kdtune audit memorization model.path=gemma-3-270m adapter=DIR data=data/prepared/my
    kdtune run audit run=RUN_DIR canaries.candidates=5000                               # the same recipe

Read top to bottom: find the data and its canaries (fail before any model loads), load the model the
way eval does (a run's adapter or full weights, in the chat format it trained with), score the
canaries (trainers.privacy.canary_audit), prompt with training and held-out rows
(trainers.privacy.extraction), write the report with its verdict (trainers.privacy.audit_report).
With `run:` the report goes into that run directory; otherwise into a new one with a manifest.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from data_tools.canaries import CANARIES_FILE
from recipes.eval import chat_format, load_model, open_run_dir, what_to_load
from trainers.config.audit import AuditConfig
from trainers.config.loader import load_config, resolve_config_path
from trainers.data.chat_data import cls_task_of, read_chat_file, resolve_data_path
from trainers.errors import UserError
from trainers.privacy.audit_report import markdown, verdict
from trainers.run.run_dir import environment_facts


def audited_data(cfg: AuditConfig) -> tuple[Path, Path | None, str | None]:
    """(train file, held-out file or None, classification task or None): `data`, else the run's own."""
    task = None
    if cfg.data is not None:
        path = cfg.data
    elif cfg.run is not None:
        config = Path(cfg.run).expanduser() / "config.yaml"
        if not config.is_file():
            raise UserError(f"run={cfg.run}: not a run directory (no config.yaml)")
        trained = load_config(config)
        if not hasattr(trained, "data"):
            raise UserError(f"run={cfg.run} is a '{trained.recipe}' run: it trained on no data; audit a training run")
        path, task = trained.data.path, cls_task_of(trained.data.path, trained.data.task)
    else:
        raise UserError("nothing to audit: set run=RUN_DIR, or model.path=... (with adapter=DIR) and data=DIR")
    train, heldout = resolve_data_path(path)
    return train, heldout, task


def run(cfg: AuditConfig, config_stem: str) -> Path:
    from trainers.privacy.canary_audit import audit_canaries
    from trainers.privacy.extraction import pii_in_outputs, verbatim_rate
    train_file, heldout_file, task = audited_data(cfg)
    spec_file = train_file.parent / CANARIES_FILE
    spec = json.loads(spec_file.read_text(encoding="utf-8")) if spec_file.is_file() else None
    train = read_chat_file(train_file, task=task).chats
    heldout = read_chat_file(heldout_file, allow_empty=True, task=task).chats if heldout_file else []
    secrets = {s["secret"]: s["id"] for s in (spec["canaries"] + spec["controls"] if spec else [])}
    # canary rows are audited as canaries; as training rows they would only repeat one sentence
    rows = [c for c in train if not any(s in m["content"] for m in c for s in secrets)]
    model_cfg, quant, adapter, described = what_to_load(cfg)
    run_dir = open_run_dir(cfg, config_stem, cfg.report)
    try:
        t0 = time.time()
        model, tokenizer = load_model(model_cfg, quant, adapter)
        fmt = chat_format(cfg, model_cfg, tokenizer)
        canaries = audit_canaries(model, tokenizer, fmt, spec, cfg.canaries) if spec and cfg.canaries.enabled else None
        extraction = None
        if cfg.extraction.enabled:
            on_train, train_texts = verbatim_rate(model, tokenizer, fmt, rows, cfg.extraction)
            on_heldout, heldout_texts = verbatim_rate(model, tokenizer, fmt, heldout, cfg.extraction)
            texts = train_texts + heldout_texts + ([canaries["greedy_text"]] if canaries else [])
            train_text = "\n".join(m["content"] for c in train for m in c)
            extraction = {"prefix_tokens": cfg.extraction.prefix_tokens,
                          "continuation_tokens": cfg.extraction.continuation_tokens,
                          "train": on_train, "heldout": on_heldout, "pii": pii_in_outputs(texts, train_text, secrets)}
        report = {"audited": described, "data": str(train_file), "chat_format": fmt,
                  "verdict": verdict(canaries, extraction, cfg.extraction.margin),
                  "canaries": canaries, "extraction": extraction, "wall_seconds": time.time() - t0,
                  "settings": {"canaries": cfg.canaries.model_dump(mode="json"),
                               "extraction": cfg.extraction.model_dump(mode="json")}}
        run_dir.write_json(f"{cfg.report}.json", report)
        run_dir.write_text(f"{cfg.report}.md", markdown(report))
        if cfg.run is None:
            run_dir.write_json("manifest.json", {"recipe": "audit", "audited": described, **environment_facts()})
        print(f"audit complete: {run_dir.path / (cfg.report + '.md')}\n{report['verdict']['summary']}")
        return run_dir.path
    finally:
        run_dir.unlock()


def cmd_memorization(args) -> int:
    cfg = load_config(args.config, args.overrides, recipe="audit")
    run(cfg, resolve_config_path(args.config).stem)
    return 0


def register(subparsers) -> None:
    audit = subparsers.add_parser("audit", help="audit a trained model (memorisation)",
                                  description="Audits of trained models; see `kdtune audit memorization --help`.")
    kinds = audit.add_subparsers(dest="audit_command", metavar="AUDIT", required=True)
    m = kinds.add_parser("memorization", help="canary exposure and verbatim extraction of training rows",
                         description=__doc__.strip().splitlines()[0],
                         epilog="\n".join(__doc__.strip().splitlines()[2:7]),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--config", default="audit/memorization.yaml",
                   help="audit config (default: the shipped audit/memorization.yaml)")
    m.add_argument("overrides", nargs="*", metavar="key.sub=value",
                   help="dotted config overrides: run=RUN_DIR, data=DIR, canaries.candidates=N, ...")
    m.set_defaults(func=cmd_memorization)
