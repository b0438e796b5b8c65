"""Accuracy per compute: train a matrix of arms on the same data, evaluate each on the same set, report.

    kdtune run bench --config configs/bench/finance.yaml           # shipped CPU mini-benchmark
    kdtune run bench --config configs/bench/cls_finance.yaml       # Gemma 3 270M, classification, 8 arms
    kdtune report runs/bench/finance-20261123-120000               # rebuild its report

Each arm is a normal run directory under the bench directory (config.yaml, metrics, adapter,
compute.json, eval.json), trained in this process by its recipe's own `run`. An arm that fails —
a bad override, out of memory, a crash — is recorded in bench.json with its error and the bench
goes on; the report lists it as failed. bench.json is rewritten after every arm, so a killed bench
still leaves a reportable directory.

A bench stopped by a signal or a time limit (pre-emption: trainers/run/stopping.py) records the arm
it was training as "stopped" and exits 75 like a run, saying how to continue. The same command with
the bench's `output.name` continues it: arms that finished are kept, the stopped arm resumes from its
checkpoint (`train.resume=auto`), the rest run (tests/recipes/test_bench_resume.py).

The same bench run twice gives the same accuracies, item by item (tests/recipes/test_bench_determinism.py):
every arm is seeded from its own config before it starts, and on CPU torch's deterministic
algorithms are on for the bench. CPU sums still depend on the thread count (1 vs 2 threads moved
the tiny arms' losses in the 7th digit), so bench.json records each arm's threads.
"""
from __future__ import annotations

import gc
import json
import time
import traceback
from pathlib import Path

from trainers.config.bench import ArmSection, BenchConfig, eval_settings
from trainers.config.eval import EvalConfig
from trainers.config.loader import dump_config, load_config, resolve_config_path
from trainers.config.recipes import RECIPE_CONFIGS
from trainers.errors import UserError
from trainers.run.run_dir import RunDir, claim_new_run_dir, make_run_dir
from trainers.run.stopping import RunStopped


def write_train_data(cfg: BenchConfig, bench_dir: Path) -> str | None:
    """The data.path every arm trains on; synthetic rows are written once into the bench directory."""
    if cfg.train_data is None:
        return None
    ds = cfg.train_data.dataset
    if not ds.startswith("synth:"):
        return ds
    from data_tools.synth import generate
    rows = generate(ds.split(":", 1)[1], cfg.train_data.n, seed=cfg.train_data.seed, split="train")
    path = bench_dir / "data" / "train.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path.resolve())


def arm_overrides(cfg: BenchConfig, arm: ArmSection, bench_dir: Path, data_path: str | None) -> list[str]:
    """Dotted overrides for the arm's training config: its own, then where it writes, data, prices."""
    # "${bench}" in a value is this bench's directory, so an arm can use an earlier arm's output
    # (e.g. distil from the full fine-tune: kd.teacher.path: ${bench}/full/model).
    subst = {k: v.replace("${bench}", str(bench_dir.resolve())) if isinstance(v, str) else v
             for k, v in arm.overrides.items()}
    items = [f"{k}={json.dumps(v)}" for k, v in subst.items()]   # JSON is valid YAML
    items += [f"output.dir={json.dumps(str(bench_dir))}", f"output.name={arm.name}"]
    if data_path:
        items.append(f"data.path={json.dumps(data_path)}")
    if "compute" in RECIPE_CONFIGS.get(arm.recipe, EvalConfig).model_fields:
        items += [f"compute.{k}={json.dumps(v)}" for k, v in cfg.compute.model_dump().items()]
    return items


def run_arm(cfg: BenchConfig, arm: ArmSection, bench_dir: Path, data_path: str | None,
            resume: bool = False) -> Path:
    """Train (unless base_only) and evaluate one arm; returns its run directory. `resume`: continue
    the arm's training from its newest checkpoint when it has one (a bench being continued)."""
    from recipes import eval as eval_recipe
    from trainers.config.recipes import RECIPES
    train_config = arm.config or cfg.train_config
    if arm.recipe not in RECIPES:
        raise UserError(f"arm {arm.name}: unknown recipe {arm.recipe!r}; known: {', '.join(sorted(RECIPES))}")
    overrides = arm_overrides(cfg, arm, bench_dir, data_path)
    if resume and not arm.base_only:
        overrides.append("train.resume=auto")
    train_cfg = load_config(train_config, overrides, recipe=arm.recipe)
    # Every arm starts from its own seed, whatever ran (or failed) before it in this process: an
    # arm's result then depends on its config alone, not on its place in the list.
    from accelerate.utils import set_seed
    set_seed(train_cfg.train.seed if hasattr(train_cfg, "train") else 0)
    # the bench's benchmark (eval, or classify + data) with this arm's eval_overrides applied
    bench_sections = eval_settings(cfg, arm)
    if arm.base_only:
        model = getattr(train_cfg, "model", None) or getattr(train_cfg, "student")
        ev = EvalConfig(model=model, **bench_sections, compute=cfg.compute,
                        output={"dir": str(bench_dir), "name": arm.name})
        return eval_recipe.run(ev, arm.name)
    run_dir = RECIPES[arm.recipe].run(train_cfg, arm.name)
    ev = EvalConfig(run=str(run_dir), **bench_sections, compute=cfg.compute)
    return eval_recipe.run(ev, arm.name)


def run(cfg: BenchConfig, config_stem: str) -> Path:
    from trainers.reporting.reporting import collect, write_report
    resolve_config_path(cfg.train_config)          # a wrong path fails now, not once per arm
    if cfg.output.name:
        bench_dir = Path(cfg.output.dir) / cfg.output.name
        make_run_dir(bench_dir)
    else:   # created atomically: two benches started in the same second get different directories
        bench_dir = claim_new_run_dir(Path(cfg.output.dir), config_stem)
    holder = RunDir(bench_dir, True)
    holder.lock()          # held until the bench ends: a second bench aimed here stops at once
    deterministic = False
    try:
        earlier = _continued(cfg, bench_dir)
        holder.write_text("config.yaml", dump_config(cfg))
        data_path = write_train_data(cfg, bench_dir)
        baseline = cfg.baseline or next((a.name for a in cfg.arms if a.base_only), None)
        record = {"config": config_stem, "baseline": baseline, "compare": [list(p) for p in cfg.compare],
                  "arms": []}
        t0 = time.time() - (earlier or {}).get("seconds", 0.0)   # a continued bench counts its earlier part
        deterministic = _deterministic_on_cpu()
        record["deterministic_algorithms"] = deterministic
        done = {a["name"]: a for a in (earlier or {}).get("arms", []) if a["status"] == "ok"}
        for i, arm in enumerate(cfg.arms, 1):
            if arm.name in done:   # finished before the bench was stopped: kept as it is
                print(f"== bench arm {i}/{len(cfg.arms)}: {arm.name} (finished earlier, kept) ==", flush=True)
                record["arms"].append(done[arm.name])
                continue
            print(f"== bench arm {i}/{len(cfg.arms)}: {arm.name} ==", flush=True)
            entry, stopped = _attempt_arm(cfg, arm, bench_dir, data_path, resume=earlier is not None)
            record["arms"].append(entry)
            record["seconds"] = time.time() - t0
            (bench_dir / "bench.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
            gc.collect()   # free the arm's model before the next one is built
            _empty_cuda_cache()
            if stopped is not None:
                stopped.continue_name = bench_dir.name   # continue the bench, by its name, not the arm
                raise stopped
        arms, _ = collect([bench_dir])
        report = write_report(arms, bench_dir, baseline, title=f"kdtune bench: {config_stem}",
                              description=cfg.description, pairs=cfg.compare)
        print(f"bench complete: {bench_dir / 'report.md'} ({len(report['ranking'])} arms ok, "
              f"{len(cfg.arms) - len(report['ranking'])} failed) in {time.time() - t0:.0f}s")
        return bench_dir
    finally:   # finished, stopped or failed: the lock and torch's global switch are released
        if deterministic:
            import torch
            torch.use_deterministic_algorithms(False)
        holder.unlock()


def _attempt_arm(cfg: BenchConfig, arm: ArmSection, bench_dir: Path, data_path: str | None,
                 resume: bool) -> tuple[dict, RunStopped | None]:
    """Run one arm -> (its bench.json entry, the stop that ended it early or None). A failure (bad
    config, OOM, crash) is recorded and the bench goes on; a stop (pre-emption, time limit) is handed
    back so the bench stops after recording it."""
    started = time.time()
    entry = {"name": arm.name, "recipe": arm.recipe, "base_only": arm.base_only, "run_dir": arm.name}
    stopped = None
    try:
        run_arm(cfg, arm, bench_dir, data_path, resume=resume)
        entry["status"] = "ok"
        entry["threads"] = _threads()   # CPU results are bitwise reproducible at a fixed thread count
    except RunStopped as e:
        entry["status"] = "stopped"
        entry["error"] = str(e)
        stopped = e
    except Exception as e:
        entry["status"] = "failed"
        entry["error"] = f"{type(e).__name__}: {e}"
        entry["traceback"] = traceback.format_exc()[-4000:]
        print(f"arm {arm.name} failed: {entry['error']}", flush=True)
    entry["seconds"] = time.time() - started
    return entry, stopped


def _continued(cfg: BenchConfig, bench_dir: Path) -> dict | None:
    """The record of the bench being continued in bench_dir (None for a new bench). Its arms must be
    this config's, in the same order: a changed arm list is a new bench, not a continuation."""
    path = bench_dir / "bench.json"
    if not path.is_file():
        return None
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        before = [a["name"] for a in earlier["arms"]]
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} cannot be read as a bench record ({type(e).__name__}: {e}); it is left as "
                        f"it is: pick another output.name") from None
    now = [a.name for a in cfg.arms]
    if now[:len(before)] != before:
        raise UserError(f"{bench_dir} holds a bench with arms {', '.join(before)}; this config's arms are "
                        f"{', '.join(now)}. Continue it with its own config, or pick another output.name")
    if len(before) == len(now) and all(a["status"] == "ok" for a in earlier["arms"]):
        raise UserError(f"{bench_dir} holds a finished bench (every arm ok); pick another output.name "
                        f"(`kdtune report {bench_dir}` rebuilds its report)")
    print(f"continuing the bench in {bench_dir}: {sum(a['status'] == 'ok' for a in earlier['arms'])} of "
          f"{len(now)} arms finished earlier", flush=True)
    return earlier


def _deterministic_on_cpu() -> bool:
    """On CPU, ask torch for deterministic kernels for the bench's duration: free there (CPU kernels
    are deterministic already; an op without such a kernel warns instead of passing silently). Not
    on a GPU, where it slows kernels down and needs CUBLAS_WORKSPACE_CONFIG set before CUDA starts.
    -> whether it was set here (and is to be unset at the end)."""
    import torch
    if torch.cuda.is_available() or torch.are_deterministic_algorithms_enabled():
        return False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return True


def _threads() -> int:
    import torch
    return torch.get_num_threads()


def _empty_cuda_cache() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
