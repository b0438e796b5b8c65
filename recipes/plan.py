"""Predict a config's peak GPU memory and step time on a GPU, and the micro-batch that fits.

    kdtune plan --config configs/finance/r1-distill-qwen-7b_qlora_12gb.yaml --gpu rtx4060-8gb
    kdtune plan --config configs/finance/r1-distill-qwen-7b_to_1.5b_logit_16gb.yaml --gpu t4-16gb
    kdtune plan --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml --gpu all
    kdtune plan --config configs/bench/cls_finance.yaml --gpu l4-24gb        # one row per arm
    kdtune plan --config smoke/tiny_lora.yaml --gpu t4-16gb train.micro_batch_size=4 data.max_seq_len=512

Works offline: the architecture comes from the shipped catalogue (trainers/models/architectures), a local
model directory, or the local Hugging Face cache — never from the network. What is planned depends
on the recipe: sft and distill plan the training step with everything on the device (student, its
trainable set, a live teacher in NF4 or not, or the cached top-k targets); distill-cache and traces
plan the teacher's forward / generation (nothing trains); bench plans every arm's training config.
The proposal keeps the configured global batch (micro × accumulation × processes). Exit status: 0
when the configured or the proposed settings fit, 1 when nothing does.
"""
from __future__ import annotations

from pathlib import Path

from trainers.compute.hardware import CATALOGUE, DEFAULT_KRW_PER_USD, GpuSpec, detect_gpu, get_gpu
from trainers.errors import UserError
from trainers.plan_config import (apply_auto_fit, compute_precision, plan_input_from_config,  # noqa: F401
                                  student_arch)
from trainers.compute.plan_memory import GIB, inference_memory
from trainers.compute.planner import AutoFit, auto_fit, format_plan_table, make_plan

TRAINING = ("sft", "distill")


def inference_plan(cfg, gpu: GpuSpec) -> tuple[str, object, float]:
    """(what is planned, MemoryBreakdown, device GiB) for a config whose teacher only runs forward."""
    dtype = "fp32" if gpu.id == "cpu" else ("bf16" if gpu.bf16 else "fp16")
    if cfg.recipe == "traces":
        t, g = cfg.teacher, cfg.generation
        what = (f"traces: teacher {t.path} generates {g.batch_size} sequences at a time "
                f"({g.max_prompt_len} prompt + {g.max_new_tokens} new tokens); nothing trains")
        mem = inference_memory(student_arch(t), t.load_in_4bit, dtype, g.batch_size, g.max_prompt_len,
                               kv_tokens=g.max_prompt_len + g.max_new_tokens, logit_rows=2 * g.batch_size)
    else:   # distill-cache: one forward over cache.batch_size sequences, top-k in kd.chunk_size rows
        t = cfg.kd.teacher
        what = (f"distill-cache: teacher {t.path} scores {cfg.cache.batch_size} sequences of "
                f"{cfg.data.max_seq_len} tokens at a time (top-{cfg.kd.topk}); nothing trains")
        mem = inference_memory(student_arch(t), t.load_in_4bit, dtype, cfg.cache.batch_size,
                               cfg.data.max_seq_len, logit_rows=2 * cfg.kd.chunk_size)
    return what, mem, mem.device_total_gib(on_cuda=gpu.id != "cpu")


def format_inference(cfg, gpu: GpuSpec) -> tuple[str, bool]:
    what, mem, total = inference_plan(cfg, gpu)
    fits = total <= gpu.vram_gib
    lines = [what, f"gpu    {gpu.name} ({gpu.id}), {gpu.vram_gib:.1f} GiB", ""]
    unit, scale = ("GiB", 1) if total >= 1 else ("MiB", 1024)   # a tiny smoke teacher: MiB, not zeros
    lines += [f"{label:<44}{nbytes / GIB * scale:>8.2f} {unit}" for label, _, nbytes in mem.items]
    lines.append(f"{'total needed / available (+ CUDA context)':<44}{total * scale:>8.2f} / "
                 f"{gpu.vram_gib * scale:.2f} {unit}  {'fits' if fits else 'DOES NOT FIT'}")
    return "\n".join(lines), fits


def bench_arms(cfg) -> list[tuple[str, object, object]]:
    """(arm name, its training config or None for base_only, teacher ArchSpec or None) per arm. An
    arm distilled from an earlier arm's export (`${bench}/NAME/...`) gets that arm's architecture, and
    one initialised from it (model.path) is planned on that arm's base model."""
    from recipes.bench import arm_overrides
    from trainers.config.loader import load_config
    bench_dir = Path(cfg.output.dir) / "PLAN"
    configs = {a.name: load_config(a.config or cfg.train_config, arm_overrides(cfg, a, bench_dir, None),
                                   recipe=a.recipe) for a in cfg.arms}
    out = []
    for arm in cfg.arms:
        source = _earlier_arm(arm.overrides.get("kd.teacher.path", ""))
        t_arch = student_arch(configs[source].model) if source in configs else None
        train_cfg = configs[arm.name]
        # a model started from an earlier arm's export (a student cut from the LoRA r8 model) does not
        # exist before the bench runs: plan it on that arm's own base, with this arm's layer subset
        init = _earlier_arm(arm.overrides.get("model.path", ""))
        if init in configs and not arm.base_only:
            model = train_cfg.model.model_copy(update={"path": configs[init].model.path})
            train_cfg = train_cfg.model_copy(update={"model": model})
        out.append((arm.name, None if arm.base_only else train_cfg, t_arch))
    return out


def _earlier_arm(value) -> str | None:
    """NAME of a `${bench}/NAME/...` override value, else None."""
    return str(value).split("${bench}/", 1)[1].split("/", 1)[0] if "${bench}/" in str(value) else None


def bench_table(cfg, gpu: GpuSpec, world: int, krw: float) -> tuple[str, bool]:
    lines = [f"bench {cfg.train_config}: each arm's training step on {gpu.name} ({gpu.vram_gib:.1f} GiB); "
             f"base_only arms only evaluate", f"{'arm':<16} {'recipe':<8} {'method':<6} {'peak':>6}  "
             f"{'fits':<4} {'step s':>8} {'KRW/1Mtok':>9}  proposal"]
    ok = True
    for name, train_cfg, t_arch in bench_arms(cfg):
        if train_cfg is None:
            lines.append(f"{name:<16} {'eval':<8} {'-':<6} {'':>6}  {'':<4} {'':>8} {'':>9}  evaluation only, nothing trains")
            continue
        inp = plan_input_from_config(train_cfg, gpu, world, teacher_arch=t_arch)
        plan, fit = make_plan(inp, gpu), auto_fit(inp, gpu)
        ok &= plan.fits or fit.fits
        proposal = ("as configured" if not fit.changes else ", ".join(fit.changes)) if fit.fits else "nothing fits"
        lines.append(f"{name:<16} {train_cfg.recipe:<8} {train_cfg.method:<6} {plan.peak_gib:>6.2f}  "
                     f"{'yes' if plan.fits else 'no':<4} {fit.plan.step_s:>8.2f} "
                     f"{fit.plan.cost_krw_per_million_tokens(krw):>9,.0f}  {proposal}")
    return "\n".join(lines), ok


def _summary_row(cfg, gpu: GpuSpec, world: int, krw: float) -> str:
    try:
        inp = plan_input_from_config(cfg, gpu, world)
    except UserError as e:
        return f"{gpu.id:<15} {str(e)[:70]}"
    plan, fit = make_plan(inp, gpu), auto_fit(inp, gpu)
    best = fit.plan
    proposal = ("as configured" if not fit.changes else ", ".join(fit.changes)) if fit.fits else "nothing fits"
    return (f"{gpu.id:<15} {plan.peak_gib:>6.1f} {gpu.vram_gib:>6.1f}  {'yes' if plan.fits else 'no ':<4} "
            f"{best.step_s:>8.1f} {best.tokens_per_s:>8,.0f} {best.cost_krw_per_million_tokens(krw):>9,.0f}  {proposal}")


def handler(args) -> int:
    from trainers.config.loader import load_config

    cfg = load_config(args.config, args.overrides)
    world, krw = args.world_size, args.krw_per_usd
    if cfg.recipe not in (*TRAINING, "distill-cache", "traces", "bench"):
        raise UserError(f"{args.config} is an {cfg.recipe} config: it trains nothing and loads no teacher, "
                        f"so there is nothing to plan. `kdtune plan` plans sft and distill (the training "
                        f"step), distill-cache and traces (the teacher's forward) and bench (every arm).")
    gpus = list(CATALOGUE.values()) if args.gpu == "all" else \
        [detect_gpu() if args.gpu == "auto" else get_gpu(args.gpu)]
    if cfg.recipe not in TRAINING:
        ok = True
        for gpu in gpus:
            text, fits = bench_table(cfg, gpu, world, krw) if cfg.recipe == "bench" else format_inference(cfg, gpu)
            print(text + ("\n" if len(gpus) > 1 else ""))
            ok &= fits
        return 0 if ok or len(gpus) > 1 else 1
    if args.gpu == "all":
        print(f"{args.config}: seq {cfg.data.max_seq_len} × micro {cfg.train.micro_batch_size} × accum "
              f"{cfg.train.grad_accum} × {world} GPU; peak GiB as configured; time, tokens/s and cost "
              f"with the proposed settings")
        print(f"{'gpu':<15} {'peak':>6} {'vram':>6}  {'fits':<4} {'step s':>8} {'tok/s':>8} {'KRW/1Mtok':>9}  proposal")
        for gpu in gpus:
            print(_summary_row(cfg, gpu, world, krw))
        return 0
    inp = plan_input_from_config(cfg, gpus[0], world)
    plan = make_plan(inp, gpus[0])
    fit: AutoFit = auto_fit(inp, gpus[0])
    print(format_plan_table(plan, fit, krw))
    if fit.fits and fit.changes and not plan.fits:
        print("\nwith the proposed settings:\n")
        print(format_plan_table(fit.plan, None, krw))
    return 0 if (plan.fits or fit.fits) else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="predict peak memory and step time; propose a micro-batch",
                              description=__doc__.split("\n\n")[0],
                              epilog="GPU ids: " + ", ".join(CATALOGUE) + ". Dotted key=value overrides "
                              "apply to the config before planning.")
    p.add_argument("--config", required=True, help="YAML config (path or shipped name)")
    p.add_argument("--gpu", default="auto", help="catalogue id (e.g. rtx4060-8gb), 'auto' for this "
                   "machine's GPU, or 'all' for a one-line summary per catalogued GPU")
    p.add_argument("--world-size", type=int, default=1, help="processes (GPUs) sharing the global batch")
    p.add_argument("--krw-per-usd", type=float, default=DEFAULT_KRW_PER_USD, help="exchange rate for costs")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted config overrides")
    p.set_defaults(func=handler)
