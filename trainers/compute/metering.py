"""Build the compute meters recipes hand to the loop and to evaluation, price the hardware, and
carry a teacher artefact's compute into the run that consumes it.

Every training recipe gets its meter from trainers.prepare (FLOPs from the trainable set read back
from the model); the loop owns the meter from there (start, sections, checkpoint state); `finish_training` writes it with
`write_compute(...)`, so compute.json means the same thing in every run directory: FLOPs counted
from the architecture (trainers.compute.flops) × the input and target tokens the loop reports, device
seconds of training only, energy from NVML or null, cost = device-hours × price, plus the compute
of any teacher cache or traces directory the run trained from, carried in as `teacher`.
"""
from __future__ import annotations

from pathlib import Path

from trainers.compute.compute_meter import ComputeMeter
from trainers.compute.flops import FlopBreakdown, matmul_params
from trainers.compute.hardware import detect_gpu, get_gpu
from trainers.config.sections import ComputeSection
from trainers.models.arch_spec import ArchSpec
from trainers.models.precision import precision_on
from trainers.run.records import ComputeRecord, TeacherCharge, TeacherSource, read_record, write_record


def hardware_profile(compute: ComputeSection, precision: str) -> tuple[dict, float, str]:
    """-> (meter gpu_profile, KRW per device-hour, device type) for this process's hardware.

    On CPU the device is one core: the peak is this machine's calibrated per-core fp32 rate
    (trainers/compute/cpu.py) unless `compute.gpu` names a catalogue profile explicitly.
    """
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = detect_gpu() if compute.gpu == "auto" else get_gpu(compute.gpu)
    # the rate of what this profile's card would run: fp32 on CPU, fp16 on a card without bf16
    precision = precision_on(precision, gpu=gpu.id != "cpu", bf16=gpu.bf16)
    profile = gpu.meter_profile(precision)
    profile.update(price_basis=gpu.price_basis, price_date=gpu.price_date, peak_source="catalogue")
    if gpu.id == "cpu" and device == "cpu":
        from trainers.compute.cpu import cpu_peak_tflops
        peak = cpu_peak_tflops()
        profile.update(peak_tflops=peak["peak_tflops"], peak_source=f"calibrated: {peak['basis']}")
    price = (compute.price_krw_per_hour if compute.price_krw_per_hour is not None
             else gpu.price_krw_hour(compute.krw_per_usd))
    if compute.price_krw_per_hour is not None:
        profile["price_basis"] = "config compute.price_krw_per_hour"
    return profile, price, device


def arch_of(model) -> ArchSpec:
    """The FLOP-relevant shape of a plain or PEFT-wrapped transformers model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return ArchSpec.from_hf_config(base.config)


def mean_seq_len(examples) -> int:
    """Mean tokens per training sequence: the T of the per-token attention term."""
    lengths = [len(e.input_ids) for e in examples]
    return max(1, round(sum(lengths) / len(lengths))) if lengths else 1


def set_threads(meter: ComputeMeter, model) -> None:
    """On CPU, pick and set the thread count for this model (trainers/compute/cpu.py) and record it."""
    if meter.device != "cpu":
        return
    from trainers.compute.cpu import apply_threads
    choice = apply_threads(matmul_params(arch_of(model)))
    meter.threads, meter.threads_reason = choice.threads, choice.reason


def forward_only_breakdown(flops_per_token: int, label: str) -> FlopBreakdown:
    """Per-token FLOPs of work with no backward (evaluation), in the meter's breakdown form."""
    return FlopBreakdown(forward=flops_per_token, backward=0, recompute=0, attention=0, adapter=0,
                         total=flops_per_token, model_flops_for_mfu=flops_per_token, method=label,
                         n_matmul_params=0, mfu_basis="2N+4LHQT (forward only)")


# --- teacher artefacts: distill-cache and traces directories ------------------------------------
def teacher_source(directory: Path, phase: str) -> TeacherSource:
    """What a teacher artefact directory recorded about its own compute (absent: said so)."""
    rec = read_record(Path(directory) / "compute.json", ComputeRecord)
    if rec is None:
        return TeacherSource(path=str(directory), phase=phase, total_flops=None, device_hours=None,
                             cost_krw=None, note="no compute.json (made by an older kdtune): teacher "
                                                 "compute unknown, not included in totals")
    return TeacherSource(path=str(directory), phase=rec.phase, total_flops=rec.total_flops,
                         device_hours=rec.device_hours, cost_krw=rec.cost_krw)


def teacher_artefacts(cfg) -> list[tuple[Path, str]]:
    """The teacher artefacts a training config consumes: its kd.cache_dir, a live kd.teacher.path that
    a kdtune training run exported (RUN/merged or RUN/model: the teacher's fine-tuning is part of what
    the student cost), a model.path that is such an export (a student cut from a fine-tuned model starts
    from that fine-tuning), and a data.path that is a traces output directory (it holds
    traces_config.yaml). A run reached twice (the student's init and its KD teacher) is charged once."""
    found = []
    kd = getattr(cfg, "kd", None)
    if kd is not None and getattr(kd, "cache_dir", None):
        found.append((Path(kd.cache_dir), "distill-cache"))
    elif kd is not None and trained_teacher_run(kd.teacher.path) is not None:
        found.append((trained_teacher_run(kd.teacher.path), "train"))
    model_path = getattr(getattr(cfg, "model", None), "path", None)
    init_run = trained_teacher_run(model_path) if model_path else None
    if init_run is not None and all(init_run.resolve() != d.resolve() for d, _ in found):
        found.append((init_run, "train"))
    data_path = getattr(getattr(cfg, "data", None), "path", None)
    if data_path and not str(data_path).startswith("builtin:"):
        p = Path(data_path).expanduser()
        d = p if p.is_dir() else p.parent
        if (d / "traces_config.yaml").is_file():
            found.append((d, "traces"))
    return found


def trained_teacher_run(teacher_path: str) -> Path | None:
    """The run directory whose merged/ or model/ export `teacher_path` is, when it recorded its
    training compute; None for a hub id, a packaged model or a plain directory."""
    p = Path(teacher_path).expanduser()
    if p.name not in ("merged", "model") or not p.is_dir():
        return None
    rec = read_record(p.parent / "compute.json", ComputeRecord)
    return p.parent if rec is not None and rec.phase == "train" else None


def carry_teachers(meter: ComputeMeter, cfg) -> TeacherCharge | None:
    """Attach the compute of every teacher artefact `cfg` consumes to the meter's record."""
    sources = [teacher_source(d, phase) for d, phase in teacher_artefacts(cfg)]
    if not sources:
        return None
    known = [s for s in sources if s.total_flops is not None]
    costs = [s.cost_krw for s in known]
    meter.carried = TeacherCharge(
        pflops=sum(s.total_flops for s in known) / 1e15,
        device_hours=sum(s.device_hours for s in known),
        cost_krw=None if any(c is None for c in costs) else sum(costs),
        complete=len(known) == len(sources), sources=sources)
    return meter.carried


def write_compute(run, meter: ComputeMeter, world_size: int = 1, cfg=None) -> dict:
    """compute.json in the run directory (main process only, via RunDir); returns what was written.
    With `cfg`, the teacher artefacts it consumed are carried in first."""
    if cfg is not None:
        carry_teachers(meter, cfg)
    return write_record(run, "compute.json", meter.record(world_size))


def read_compute(run_dir: Path) -> ComputeRecord | None:
    return read_record(Path(run_dir) / "compute.json", ComputeRecord)
