"""The `kdtune` command: run recipes, list/copy/validate configs, build tiny models, data tools.

    kdtune run RECIPE [--config FILE] [--smoke] [--nproc N] [key.sub=value ...]
    kdtune ls | kdtune cp CONFIG DEST | kdtune validate --config FILE [key=value ...]
    kdtune tiny-model --arch qwen2 --out DIR
    kdtune data prepare|pii|synth ...
    kdtune export gguf|card --run RUN_DIR --out ...
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from pathlib import Path

from data_tools.errors import DataError
from trainers.config.recipes import RECIPES
from trainers.errors import UserError
from trainers.run.stopping import RunStopped

# optional sub-command modules exposing register(subparsers)
EXTRA_COMMANDS = ["data_tools.cli", "recipes.plan", "recipes.report", "recipes.export", "recipes.audit",
                  "recipes.slurm"]


def _configs_root() -> Path:
    from trainers.config.loader import CONFIG_ROOT
    return CONFIG_ROOT


def cmd_run(args) -> int:
    from trainers.config.loader import load_config, resolve_config_path
    recipe = RECIPES[args.recipe]
    config = args.config or recipe.default_config
    if args.nproc and args.nproc > 1:
        from recipes.launch import relaunch
        load_config(config, args.overrides, recipe=args.recipe)   # a bad config: one message, no workers
        return relaunch(args.nproc, sys.argv[1:])
    cfg = load_config(config, args.overrides, recipe=args.recipe)
    stem = resolve_config_path(config).stem
    if args.smoke:
        if not hasattr(cfg, "train"):
            raise UserError(f"--smoke shortens a training recipe; '{args.recipe}' trains nothing itself "
                            f"(its arms/models are set in the config)")
        from trainers.run.smoke import apply_smoke
        apply_smoke(cfg)
        stem += "-smoke"
    recipe.run(cfg, stem)
    return 0


def cmd_validate(args) -> int:
    from trainers.config.loader import dump_config, load_config
    cfg = load_config(args.config, args.overrides, recipe=args.recipe)
    print(f"# {args.config}: valid '{cfg.recipe}' config")
    print(dump_config(cfg), end="")
    return 0


def cmd_ls(args) -> int:
    root = _configs_root()
    print("recipes:")
    for name, recipe in RECIPES.items():
        print(f"  {name:10s} {recipe.summary()}  [default config: {recipe.default_config}]")
    print(f"configs ({root}):")
    for f in sorted(root.rglob("*.yaml")):
        rel = f.relative_to(root)
        if not rel.parts[0].startswith("_"):
            print(f"  configs/{rel}")
    return 0


def cmd_cp(args) -> int:
    from trainers.config.loader import resolve_config_path
    src = resolve_config_path(args.config)
    dest = Path(args.dest)
    if dest.is_dir():
        dest = dest / src.name
    if dest.exists() and not args.force:
        raise UserError(f"{dest} exists; pass --force to overwrite")
    if not dest.parent.is_dir():
        raise UserError(f"cannot write {dest}: directory {dest.parent} does not exist; create it first "
                        f"or copy into an existing directory")
    text = src.read_text(encoding="utf-8")
    if "base:" in text:  # a copied file must not point at relative bases it no longer sits beside
        from trainers.config.loader import load_raw
        import yaml
        text = f"# copied from {src} with its base files merged in\n" + yaml.safe_dump(
            load_raw(src, {}), sort_keys=False, allow_unicode=True)
    try:
        dest.write_text(text, encoding="utf-8")
    except OSError as e:
        from trainers.run.run_dir import fs_error
        raise fs_error("cannot write", dest, e) from None
    print(f"wrote {dest}")
    return 0


def cmd_tiny_model(args) -> int:
    from trainers.models.tiny_model import build_tiny_model
    out = build_tiny_model(args.arch, args.out, seed=args.seed)
    print(f"wrote tiny {args.arch} model + tokenizer to {out}")
    return 0


EXAMPLES = """examples:
  kdtune ls                                          recipes and shipped configs
  kdtune run sft --config finance/r1-distill-qwen-1.5b_qlora_8gb.yaml data.path=client.jsonl
  kdtune run sft --config smoke/tiny_lora.yaml train.max_steps=8     a CPU smoke run in seconds
  kdtune run distill --config finance/r1-distill-qwen-7b_to_1.5b_logit_16gb.yaml --nproc 2
  kdtune validate --config my.yaml train.lr=1e-4     the resolved config, or every error in it
  kdtune plan --config finance/r1-distill-qwen-7b_qlora_12gb.yaml --gpu rtx4060-8gb
  kdtune data prepare --input raw.jsonl --out data/clean
  kdtune report runs/bench-finance
  kdtune slurm --config finance/r1-distill-qwen-1.5b_qlora_8gb.yaml --nodes 2 --gpus-per-node 4 --time 04:00:00
  kdtune audit memorization run=runs/NAME        canary exposure + verbatim extraction of a trained run
  kdtune export gguf --run runs/NAME --out out/model.gguf --dtype q8_0 --check

`kdtune COMMAND --help` describes each command. Errors you can fix (a config key, a path, a
missing model) print one paragraph and exit with status 2."""


RUN_EXIT_STATUSES = """exit status:
  0    finished (manifest.json written)
  2    an error you can fix (config, path, model, data): one paragraph on stderr
  75   stopped early to be requeued: SIGTERM or SIGUSR1 (pre-emption, SLURM's --signal warning),
       train.time_limit or SLURM's job end time. The current step finished and a checkpoint was
       written; stderr names it and the command that continues (train.resume=auto)
  130  stopped by Ctrl-C (SIGINT) after a checkpoint, likewise resumable; a second Ctrl-C aborts"""


def _version() -> str:
    from importlib import metadata
    try:
        return metadata.version("kdtune")
    except metadata.PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kdtune", description="Distill and LoRA/QLoRA-tune small models on "
                                "Korean domain data; report accuracy per unit of compute.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"kdtune {_version()}",
                   help="print the installed kdtune version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run a recipe", description="Run a recipe from a YAML config.",
                       epilog=RUN_EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("recipe", choices=sorted(RECIPES), help="recipe name")
    r.add_argument("--config", help="YAML file (path or shipped name such as smoke/tiny_lora.yaml); "
                   "default: the recipe's built-in tiny CPU config")
    r.add_argument("--smoke", action="store_true", help="a few steps with a tiny random model of the same family")
    r.add_argument("--nproc", type=int, default=0, help="processes on this machine (torchrun); default 1")
    r.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted config overrides")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="print the resolved config or its errors",
                       description="Merge a config with its base files and overrides, check it against its "
                                   "recipe's schema and print the result (exactly what `run` would use), "
                                   "or every error with the file or override to fix.")
    v.add_argument("--config", required=True, help="YAML file (path or shipped name such as smoke/tiny_lora.yaml)")
    v.add_argument("--recipe", choices=sorted(RECIPES), help="check as this recipe (default: the file's recipe: key)")
    v.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted config overrides, as for `run`")
    v.set_defaults(func=cmd_validate)

    sub.add_parser("ls", help="list recipes and shipped configs",
                   description="List the recipes (with their default configs) and every shipped config "
                               "file; takes no arguments.").set_defaults(func=cmd_ls)

    c = sub.add_parser("cp", help="copy a shipped config to edit",
                       description="Copy a config to edit; its base files are merged in so the copy "
                                   "stands alone wherever it is put.")
    c.add_argument("config", help="config to copy (path or shipped name such as finance/r1-distill-qwen-1.5b_qlora_8gb.yaml)")
    c.add_argument("dest", help="destination file, or an existing directory to copy into under the same name")
    c.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    c.set_defaults(func=cmd_cp)

    t = sub.add_parser("tiny-model", help="build a tiny random model + Korean tokenizer",
                       description="Write a tiny model of a real architecture (random weights) and a "
                                   "tokenizer trained on the shipped Korean text, loadable as "
                                   "model.path=DIR: for CPU tests and smoke runs.")
    t.add_argument("--arch", choices=["qwen2", "llama"], default="qwen2", help="architecture (default: qwen2)")
    t.add_argument("--out", required=True, help="directory to write (created)")
    t.add_argument("--seed", type=int, default=0, help="seed for the random weights (default: 0)")
    t.set_defaults(func=cmd_tiny_model)

    for name in EXTRA_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may come before or after options; argparse cannot interleave a nargs='*'
    # positional with options, so leftovers that look like key=value are taken as overrides.
    args, extra = parser.parse_known_args(argv)
    bad = [a for a in extra if a.startswith("-") or "=" not in a]
    if bad or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(bad or extra)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    # No hub request unless a model must be downloaded (docs/privacy.md, "Offline")
    from trainers.models.offline import enter_offline_mode
    enter_offline_mode()
    try:
        code = args.func(args)
        sys.stdout.flush()   # inside the try: a reader that left (`kdtune ls | head -1`) is seen here
        return code
    except RunStopped as e:   # pre-empted or out of time, checkpoint written: say how to go on
        from recipes.launch import report_stop
        return report_stop(e, sys.argv[1:] if argv is None else argv)
    except (UserError, DataError) as e:
        from recipes.launch import report_error
        if not report_error(str(e)):   # under --nproc the launcher prints it, once
            print(f"kdtune: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kdtune: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        try:   # further writes to the closed pipe (and the interpreter's final flush) would fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):   # stdout is not a real file (captured in tests)
            pass
        print("kdtune: error: the output pipe was closed before kdtune finished writing (broken pipe)",
              file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in FILESYSTEM_ERRORS:
            raise
        from trainers.run.run_dir import fs_error
        print(f"kdtune: error: {fs_error('cannot use', Path(e.filename or '?'), e)}", file=sys.stderr)
        return 2


# Filesystem failures the user can fix (a path, a permission, a full disk): one paragraph, exit 2.
FILESYSTEM_ERRORS = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                     errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG, errno.ELOOP}


if __name__ == "__main__":
    sys.exit(main())
