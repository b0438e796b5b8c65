"""Evaluate a base model, a model + adapter, or a finished run on one benchmark -> eval.json.

    kdtune run eval --config configs/eval/tiny_mcqa_finance.yaml
    kdtune run eval --config configs/eval/tiny_mcqa_finance.yaml run=runs/tiny_lora-20261123-101500
    kdtune run eval --config configs/eval/tiny_synth_finance.yaml model.path=DIR adapter=runs/r/adapter
    kdtune run eval --config configs/eval/cls_finance.yaml run=RUN_DIR data.path=inquiries.jsonl
    kdtune run eval --config configs/eval/cls_finance.yaml classify.k_shot=4     # the base model, 4-shot

With `run:` the run's own config names the base model (and QLoRA quantisation), its adapter/ (or
model/ for full fine-tuning) the trained weights, and eval.json is written into that run directory,
next to its compute.json. Otherwise a new run directory holds config.yaml, eval.json, compute.json
(phase "eval": the evaluation's own cost, no training) and a manifest written last.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from trainers.compute.metering import hardware_profile
from trainers.config.eval import EvalConfig
from trainers.config.loader import dump_config, load_config
from trainers.config.sections import ModelSection
from trainers.errors import UserError
from trainers.evaluation.datasets import load_benchmark
from trainers.evaluation.runner import evaluate_benchmark
from trainers.models.precision import inference_setup
from trainers.run.run_dir import RunDir, claim_new_run_dir, environment_facts, make_run_dir


def what_to_load(cfg: EvalConfig) -> tuple[ModelSection, object, Path | None, dict]:
    """-> (model section of the weights to load, quant section or None, adapter dir or None, description)."""
    if cfg.run is None:
        adapter = Path(cfg.adapter).expanduser() if cfg.adapter else None
        if adapter is not None and not (adapter / "adapter_config.json").is_file():
            raise UserError(f"adapter={cfg.adapter}: no adapter_config.json there (a PEFT adapter directory)")
        return cfg.model, None, adapter, {"model": cfg.model.path, "adapter": cfg.adapter}
    run = Path(cfg.run).expanduser()
    if not (run / "config.yaml").is_file():
        raise UserError(f"run={cfg.run}: not a run directory (no config.yaml)")
    trained = load_config(run / "config.yaml")
    model_cfg = trained.model
    desc = {"run": str(run), "recipe": trained.recipe, "model": model_cfg.path}
    if (run / "adapter" / "adapter_config.json").is_file():
        quant = getattr(trained, "quant", None)   # QLoRA adapters are evaluated on the 4-bit base they trained on
        return model_cfg, quant, run / "adapter", {**desc, "adapter": str(run / "adapter")}
    if (run / "model" / "config.json").is_file():
        # saved full weights already have the run's layer subset (its config.json says how many)
        full = model_cfg.model_copy(update={"path": str(run / "model"), "keep_layers": None})
        return full, None, None, {**desc, "weights": str(run / "model")}
    if trained.recipe == "eval":
        raise UserError(f"run={cfg.run} is itself an evaluation; evaluate its model instead")
    raise UserError(f"run={cfg.run} has neither adapter/ nor model/ — did it finish?")


def load_model(model_cfg: ModelSection, quant, adapter: Path | None):
    from trainers.models.model_builder import load_base_model, load_tokenizer
    _, dtype, device = inference_setup()
    use_quant = quant if (quant is not None and quant.load_in_4bit) else None
    model, _ = load_base_model(model_cfg, dtype, device, use_quant)
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    tokenizer = load_tokenizer(model_cfg)
    return model, tokenizer


def chat_format(cfg: EvalConfig, model_cfg: ModelSection, tokenizer) -> str:
    """The format the evaluated model was trained with: a run's manifest records it; else the config's."""
    from trainers.data.chat_format import detect_format
    manifest = Path(cfg.run).expanduser() / "manifest.json" if cfg.run else None
    if manifest is not None and manifest.is_file():
        fmt = json.loads(manifest.read_text(encoding="utf-8")).get("chat_format")
        if fmt:
            return fmt
    from trainers.data.chat_templates import saved_chat_format   # an exported model or adapter carries it
    for where in (cfg.adapter, model_cfg.path):
        fmt = saved_chat_format(where) if where and Path(where).expanduser().is_dir() else None
        if fmt:
            return fmt
    if model_cfg.chat_format != "auto":
        return model_cfg.chat_format
    try:
        return detect_format(tokenizer)
    except ValueError as e:
        raise UserError(f"{e} (model.path={model_cfg.path})") from None


def open_run_dir(cfg: EvalConfig, config_stem: str, report: str) -> RunDir:
    """The directory the evaluation writes into, locked for its duration (two evaluations never
    write one report; a run still training holds its own lock, so it is not evaluated half-way)."""
    if cfg.run is not None:
        run_dir = RunDir(Path(cfg.run).expanduser(), True)
        run_dir.lock()
        run_dir.write_text(f"{report}_config.yaml", dump_config(cfg))   # config.yaml stays the training config
        return run_dir
    if cfg.output.name:
        path = Path(cfg.output.dir) / cfg.output.name
        make_run_dir(path)
    else:   # a fresh timestamped name, created atomically (never shared with a concurrent eval)
        path = claim_new_run_dir(Path(cfg.output.dir), config_stem)
    run_dir = RunDir(path, True)
    run_dir.lock()
    if (run_dir.path / f"{report}.json").exists():
        run_dir.unlock()
        raise UserError(f"{run_dir.path} already holds an evaluation; pick another output.name")
    run_dir.write_text("config.yaml", dump_config(cfg))
    return run_dir


def classification_inputs(cfg: EvalConfig):
    """(task, items, shot pool) — read before any model loads, so a bad file fails in a second."""
    from data_tools.cls_tasks import get_task, read_records, resolve_cls_path
    from data_tools.errors import DataError
    task = get_task(cfg.classify.task)
    try:
        items = read_records(resolve_cls_path(cfg.data.path), task)[:cfg.data.n]
        pool = []
        if cfg.classify.k_shot:
            shots = cfg.data.shots_path or f"builtin:cls/{task.domain}/train"
            pool = read_records(resolve_cls_path(shots), task)
    except DataError as e:
        raise UserError(f"data: {e}") from None
    return task, items, pool


def run_classification(cfg: EvalConfig, config_stem: str) -> Path:
    from trainers.evaluation.cls_eval import evaluate_classification
    from trainers.evaluation.cls_metrics import confusion_markdown
    from trainers.evaluation.cls_plot import plot_confusion
    task, items, pool = classification_inputs(cfg)
    model_cfg, quant, adapter, described = what_to_load(cfg)
    report = cfg.classify.report
    run_dir = open_run_dir(cfg, config_stem, report)
    try:
        t0 = time.time()
        model, tokenizer = load_model(model_cfg, quant, adapter)
        fmt = chat_format(cfg, model_cfg, tokenizer)
        precision = inference_setup()[0]
        profile, price, device = hardware_profile(cfg.compute, precision)
        result = evaluate_classification(model, tokenizer, fmt, task, items, pool, cfg.classify, profile, price, device)
        lo, hi = result["ci95"]
        title = (f"{task.domain} · {cfg.classify.scoring} · {cfg.classify.k_shot}-shot · accuracy "
                 f"{result['accuracy']:.3f} [{lo:.3f}, {hi:.3f}], n={result['n']}")
        (run_dir.path / f"{report}_confusion.md").write_text(
            confusion_markdown(result["confusion"], result, title), encoding="utf-8")
        font = plot_confusion(result["confusion"], run_dir.path / f"{report}_confusion.png", title)
        body = {"evaluated": described, "precision": precision, "dataset": cfg.data.path, **result,
                "plot_font": font, "wall_seconds": time.time() - t0,
                "settings": {"classify": cfg.classify.model_dump(mode="json"), "data": cfg.data.model_dump(mode="json")}}
        run_dir.write_json(f"{report}.json", body)
        finish_eval_only(cfg, run_dir, result, described)
        print(f"eval complete: {run_dir.path / (report + '.json')}  accuracy={result['accuracy']:.3f} "
              f"[{lo:.3f}, {hi:.3f}] n={result['n']} missing={result['missing']} ({task.domain}, "
              f"{cfg.classify.scoring}, {cfg.classify.k_shot}-shot)")
        return run_dir.path
    finally:
        run_dir.unlock()


def finish_eval_only(cfg: EvalConfig, run_dir: RunDir, result: dict, described: dict) -> None:
    if cfg.run is None:
        # No training happened: the run's compute is the evaluation's, marked so reports bill 0 training.
        run_dir.write_json("compute.json", {**result["compute"], "phase": "eval"})
        run_dir.write_json("manifest.json", {"recipe": "eval", "evaluated": described, **environment_facts()})


def run(cfg: EvalConfig, config_stem: str) -> Path:
    if cfg.classify is not None:
        return run_classification(cfg, config_stem)
    bench = load_benchmark(cfg.eval)          # bad dataset strings fail before any model loads
    model_cfg, quant, adapter, described = what_to_load(cfg)
    run_dir = open_run_dir(cfg, config_stem, "eval")
    try:
        t0 = time.time()
        model, tokenizer = load_model(model_cfg, quant, adapter)
        precision = inference_setup()[0]
        profile, price, device = hardware_profile(cfg.compute, precision)
        fmt = chat_format(cfg, model_cfg, tokenizer) if bench.mode == "generate" else None
        result = evaluate_benchmark(model, tokenizer, bench, cfg.eval, profile, price, device, fmt)
        body = {"evaluated": described, "precision": precision, **result, "wall_seconds": time.time() - t0,
                "settings": cfg.eval.model_dump(mode="json")}
        run_dir.write_json("eval.json", body)
        finish_eval_only(cfg, run_dir, result, described)
        ov = body["overall"]
        lo, hi = ov["ci95"]
        print(f"eval complete: {run_dir.path / 'eval.json'}  accuracy={ov['accuracy']:.3f} "
              f"[{lo:.3f}, {hi:.3f}] n={ov['n']} missing={ov['missing']}")
        return run_dir.path
    finally:
        run_dir.unlock()
