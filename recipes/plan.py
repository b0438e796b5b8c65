"""Predict a config's peak GPU memory and step time on a GPU, and the micro-batch that fits.

    kdtune plan --config configs/finance/r1-distill-qwen-7b_qlora_12gb.yaml --gpu rtx4060-8gb
    kdtune plan --config configs/finance/r1-distill-qwen-1.5b_qlora_8gb.yaml --gpu all
    kdtune plan --config smoke/tiny_lora.yaml --gpu t4-16gb train.micro_batch_size=4 data.max_seq_len=512

Works offline: the architecture comes from the shipped catalogue (trainers/architectures), a local
model directory, or the local Hugging Face cache — never from the network. The proposal keeps the
configured global batch (micro × accumulation × processes). Exit status: 0 when the configured or
the proposed settings fit, 1 when nothing does.

`apply_auto_fit(cfg)` is what `train.auto_fit: true` runs before the model is built.
"""
from __future__ import annotations

from trainers.arch_catalog import load_arch
from trainers.arch_spec import ArchSpec
from trainers.errors import UserError
from trainers.hardware import (CATALOGUE, DEFAULT_KRW_PER_USD, GpuSpec, catalogue_precision, detect_gpu,
                               get_gpu)
from trainers.planner import AutoFit, PlanInput, auto_fit, format_plan_table, make_plan


def compute_precision(cfg, gpu: GpuSpec) -> str:
    """The precision the run would use on `gpu`, as trainers.precision decides it on the device."""
    requested = cfg.train.precision
    if gpu.id == "cpu":
        return "fp32"
    if requested == "auto":
        return catalogue_precision(gpu)
    if requested == "bf16" and not gpu.bf16:
        raise UserError(f"train.precision=bf16 but {gpu.name} has no bf16; use fp16 or auto")
    return requested


def plan_input_from_config(cfg, gpu: GpuSpec, world_size: int = 1, arch: ArchSpec | None = None) -> PlanInput:
    """PlanInput for a loaded recipe config (SFTConfig and the recipes built like it)."""
    targets = cfg.lora.target_modules
    return PlanInput(
        arch=arch or load_arch(cfg.model.path),
        method=cfg.method,
        seq_len=cfg.data.max_seq_len,
        micro_batch=cfg.train.micro_batch_size,
        grad_accum=cfg.train.grad_accum,
        lora_r=cfg.lora.r,
        lora_targets=targets if isinstance(targets, str) else tuple(targets),
        compute_dtype=compute_precision(cfg, gpu),
        grad_checkpointing=cfg.train.gradient_checkpointing,
        optimizer=cfg.train.optimizer,
        loss_chunk_size=cfg.train.loss_chunk_size,
        lora_dropout=cfg.lora.dropout if cfg.lora.enabled else 0.0,
        double_quant=cfg.quant.double_quant,
        world_size=world_size,
    )


def apply_auto_fit(cfg, gpu: GpuSpec | None = None, world_size: int = 1, arch: ArchSpec | None = None,
                   log=print):
    """A copy of `cfg` with train.micro_batch_size / train.grad_accum (and where needed
    train.loss_chunk_size, then data.max_seq_len) set by the planner for `gpu` (default: this
    machine's).

    Raises UserError when nothing fits, naming the predicted and available memory, rather than
    letting the run die of out-of-memory after loading the model. Pass `arch` when the model is
    already known (e.g. ArchSpec.from_hf_config(model.config)) to skip the catalogue lookup.
    """
    gpu = gpu or detect_gpu()
    fit = auto_fit(plan_input_from_config(cfg, gpu, world_size, arch), gpu)
    peak = f"{fit.plan.peak_gib:.1f} GiB of {gpu.vram_gib:.1f}"
    if not fit.fits:
        raise UserError(f"train.auto_fit: this run does not fit {gpu.name} even at micro-batch 1 and "
                        f"sequence {fit.plan.inp.seq_len} (predicted {peak}); use QLoRA, an 8-bit "
                        f"optimizer, a smaller model or a larger GPU — or set train.auto_fit=false "
                        f"to try anyway. `kdtune plan` shows the breakdown.")
    new = cfg.model_copy(deep=True)
    new.train.micro_batch_size = fit.plan.inp.micro_batch
    new.train.grad_accum = fit.plan.inp.grad_accum
    new.data.max_seq_len = fit.plan.inp.seq_len
    if fit.plan.inp.loss_chunk_size is not None:
        new.train.loss_chunk_size = fit.plan.inp.loss_chunk_size
    what = ", ".join(fit.changes) if fit.changes else "configured settings kept"
    log(f"auto_fit on {gpu.id}: {what} (predicted peak {peak})")
    if any(c.startswith("seq_len") for c in fit.changes):
        log("auto_fit: data.max_seq_len was lowered: longer examples will be truncated")
    return new


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
    if args.gpu == "all":
        print(f"{args.config}: seq {cfg.data.max_seq_len} × micro {cfg.train.micro_batch_size} × accum "
              f"{cfg.train.grad_accum} × {world} GPU; peak GiB as configured; time, tokens/s and cost "
              f"with the proposed settings")
        print(f"{'gpu':<15} {'peak':>6} {'vram':>6}  {'fits':<4} {'step s':>8} {'tok/s':>8} {'KRW/1Mtok':>9}  proposal")
        for gpu in CATALOGUE.values():
            print(_summary_row(cfg, gpu, world, krw))
        return 0
    gpu = detect_gpu() if args.gpu == "auto" else get_gpu(args.gpu)
    inp = plan_input_from_config(cfg, gpu, world)
    plan = make_plan(inp, gpu)
    fit: AutoFit = auto_fit(inp, gpu)
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
