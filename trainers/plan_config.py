"""A recipe config as planner input: everything the run will put on the device — the student with
its trainable set, a live teacher (NF4 or not) or the cached top-k targets — and auto-fit.

`plan_input_from_config` is the one translation from a config to trainers.compute.planner's PlanInput;
`kdtune plan` (recipes/plan.py) and `train.auto_fit` (trainers.prepare.fit_to_gpu) both use it, so
what the table shows is what auto-fit decides on. The LoRA targets are resolved by
trainers.models.trainable.config_block_targets, the same resolution the meter's trainable set is checked
against (tests/trainers/models/test_trainable.py).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from trainers.compute.hardware import GpuSpec, catalogue_precision, detect_gpu
from trainers.compute.planner import PlanInput, auto_fit
from trainers.errors import UserError
from trainers.models.arch_catalog import load_arch
from trainers.models.arch_spec import ArchSpec
from trainers.models.trainable import config_block_targets


def compute_precision(cfg, gpu: GpuSpec) -> str:
    """The precision the run would use on `gpu`, as trainers.models.precision decides it on the device."""
    requested = cfg.train.precision
    if gpu.id == "cpu":
        return "fp32"
    if requested == "auto":
        return catalogue_precision(gpu)
    if requested == "bf16" and not gpu.bf16:
        raise UserError(f"train.precision=bf16 but {gpu.name} has no bf16; use fp16 or auto")
    return requested


def cache_topk(cache_dir: str, configured: int) -> int:
    """k of an existing top-k cache (its index.json), else the configured kd.topk it will be built with."""
    from trainers.distill.distill_cache import INDEX_NAME
    index = Path(cache_dir).expanduser() / INDEX_NAME
    try:
        return int(json.loads(index.read_text())["k"])
    except (OSError, ValueError, KeyError, TypeError):
        return configured


def teacher_inputs(cfg, teacher_arch: ArchSpec | None = None) -> dict:
    """PlanInput fields for what distillation adds to the device: the live teacher's weights and
    forward (NF4 when kd.teacher.load_in_4bit), or the cached top-k targets. {} without a kd section."""
    kd = getattr(cfg, "kd", None)
    if kd is None:
        return {}
    if kd.cache_dir:
        return {"kd_cache_topk": cache_topk(kd.cache_dir, kd.topk), "kd_chunk_size": kd.chunk_size}
    return {"teacher": teacher_arch or student_arch(kd.teacher),
            "teacher_quant": "nf4" if kd.teacher.load_in_4bit else "none", "kd_chunk_size": kd.chunk_size}


def student_arch(model_cfg) -> ArchSpec:
    """The architecture the run trains: the model's, cut to model.keep_layers when set (each kept
    layer keeps its own attention span, as trainers.models.layer_subset.keep_layers does)."""
    if model_cfg.keep_layers is None:
        return load_arch(model_cfg.path)
    from trainers.models.arch_catalog import load_arch_config, spec_from_config
    from trainers.models.layer_subset import resolve_keep
    config = dict(load_arch_config(model_cfg.path))
    n = config["num_hidden_layers"]
    idx = resolve_keep(model_cfg.keep_layers, n)
    types = config.get("layer_types")
    pattern = config.get("sliding_window_pattern") or config.get("_sliding_window_pattern")
    if not types and pattern:   # every pattern-th layer global (Gemma 3: 5 local : 1 global)
        types = ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(n)]
    config.update(num_hidden_layers=len(idx), sliding_window_pattern=None, _sliding_window_pattern=None)
    if types:
        config["layer_types"] = [types[i] for i in idx]
    return spec_from_config(config, model_cfg.path)


def plan_input_from_config(cfg, gpu: GpuSpec, world_size: int = 1, arch: ArchSpec | None = None,
                           teacher_arch: ArchSpec | None = None) -> PlanInput:
    """PlanInput for a training config (sft, distill): student, trainable set, teacher or cache."""
    arch = arch or student_arch(cfg.model)
    targets = config_block_targets(arch, cfg.lora.target_modules) if cfg.lora.enabled else "all-linear"
    return PlanInput(
        arch=arch,
        method=cfg.method,
        seq_len=cfg.data.max_seq_len,
        micro_batch=cfg.train.micro_batch_size,
        grad_accum=cfg.train.grad_accum,
        lora_r=cfg.lora.r,
        lora_targets="all-linear" if cfg.lora.target_modules == "all-linear" else targets,
        compute_dtype=compute_precision(cfg, gpu),
        grad_checkpointing=cfg.train.gradient_checkpointing,
        optimizer=cfg.train.optimizer,
        loss_chunk_size=cfg.train.loss_chunk_size,
        lora_dropout=cfg.lora.dropout if cfg.lora.enabled else 0.0,
        double_quant=cfg.quant.double_quant,
        world_size=world_size,
        **teacher_inputs(cfg, teacher_arch),
    )


def apply_auto_fit(cfg, gpu: GpuSpec | None = None, world_size: int = 1, arch: ArchSpec | None = None,
                   log=print, teacher_arch: ArchSpec | None = None):
    """A copy of `cfg` with train.micro_batch_size / train.grad_accum (and where needed
    train.loss_chunk_size, then data.max_seq_len) set by the planner for `gpu` (default: this
    machine's), counting a distillation teacher or cache as `kdtune plan` does.

    Raises UserError when nothing fits, naming the predicted and available memory, rather than
    letting the run die of out-of-memory after loading the model. Pass `arch` when the model is
    already known (e.g. ArchSpec.from_hf_config(model.config)) to skip the catalogue lookup.
    """
    gpu = gpu or detect_gpu()
    fit = auto_fit(plan_input_from_config(cfg, gpu, world_size, arch, teacher_arch), gpu)
    peak = f"{fit.plan.peak_gib:.1f} GiB of {gpu.vram_gib:.1f}"
    if not fit.fits:
        raise UserError(f"train.auto_fit: this run does not fit {gpu.name} even at micro-batch 1 and "
                        f"sequence {fit.plan.inp.seq_len} (predicted {peak}); use QLoRA, an 8-bit "
                        f"optimizer, a 4-bit or cached teacher, a smaller model or a larger GPU — or "
                        f"set train.auto_fit=false to try anyway. `kdtune plan` shows the breakdown.")
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


def fit_to_gpu(cfg, gpu: GpuSpec | None = None, log=print):
    """train.auto_fit for any training recipe: the planner picks micro-batch / accumulation (same
    global batch) for this GPU — or `gpu`, a catalogue profile to plan for. On a machine without a
    GPU and no `gpu` given the settings are kept, and said so."""
    if not cfg.train.auto_fit:
        return cfg
    if gpu is None:
        import torch
        if not torch.cuda.is_available():
            log("train.auto_fit: no GPU here, settings kept as configured")
            return cfg
    return apply_auto_fit(cfg, gpu, world_size=int(os.environ.get("WORLD_SIZE", "1")), log=log)
