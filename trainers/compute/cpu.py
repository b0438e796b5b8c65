"""CPU runs: how many threads, what one core-second can do (a measured peak), and the device clock.

Three decisions, each made here once:

* **Device-seconds on CPU are the process's CPU time** (`time.process_time`: user + system time of
  every thread), i.e. core-seconds, priced per core-hour. Wall time is kept beside it but is not a
  cost measure on a shared machine: a busy neighbour stretches wall time while our process waits,
  and that waiting burns none of our CPU time. With N threads, CPU time is up to N × wall — the
  cores we held, including time OpenMP workers spin waiting for each other, which is why too many
  threads for a tiny model show up as a higher price, as they should.
* **The peak is measured, not assumed**: a ~0.3 s fp32 GEMM (1024³, best of 3 timed trials) on one
  thread, as FLOPs per CPU-second, cached per machine in ~/.cache/kdtune/cpu_peak.json keyed by CPU
  model and torch version (the GEMM library ships with torch). One thread, whatever the run uses:
  per-core-second rate of a single GEMM thread is the most a core does (one core can turbo higher
  than all of them at once, never lower), and unlike a multi-thread wall-clock rate it does not
  collapse when a neighbour takes a core (measured here under load: 1 thread 160-170 GFLOPS per
  CPU-second in every trial; 2 threads 17-111). MFU = model FLOPs / (core-seconds × this peak), so a
  run can only exceed 100% if the FLOP count itself overstates the work.
* **Threads**: OMP_NUM_THREADS when the user set it; otherwise one thread for models under
  TINY_MODEL_PARAMS matmul parameters, else every physical core this process may run on. Why: a
  tiny model's matmuls are too small to split — on this 2-core machine a hidden-64 MLP step ran 67
  steps/s on 1 thread and 1.5 on 2 while a neighbour was busy (and a tiny-model run took 12 s vs
  67 s); hidden 640 was still slower on 2 threads under load (1.3 vs 1.0 steps/s) but scales on an
  idle machine, where a real model wants all cores. SMT siblings are not extra cores for GEMM.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from data_tools.atomic import atomic_write_json

TINY_MODEL_PARAMS = 50_000_000           # matmul parameters (trainers.compute.flops.matmul_params)
CALIBRATION_SIZE = 1024                  # n of the n×n×n fp32 GEMM
CALIBRATION_TRIAL_S = 0.1                # CPU-seconds per timed trial
CALIBRATION_TRIALS = 3
PEAK_BASIS = "fp32 GEMM per CPU-second, 1 thread (trainers/compute/cpu.py)"
SECONDS_BASIS_CPU = "process CPU time (core-seconds, all threads)"
SECONDS_BASIS_WALL = "wall clock"


def device_clock(device: str):
    """The clock device-seconds are read from: CPU time on CPU, wall time on a GPU (the device is
    held for the whole interval whether or not our kernels keep it busy)."""
    return time.process_time if device == "cpu" else time.perf_counter


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def usable_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int] | None = None) -> int:
    """Distinct (package, core) pairs among the CPUs this process may use; SMT siblings count once."""
    cpus = usable_cpus() if cpus is None else cpus
    cores = set()
    for c in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{c}/topology")
        try:
            cores.add((topo.joinpath("physical_package_id").read_text().strip(),
                       topo.joinpath("core_id").read_text().strip()))
        except OSError:
            return max(1, len(cpus))     # no topology (not Linux, or hidden): count logical CPUs
    return max(1, len(cores))


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str


def choose_threads(n_matmul_params: int, environ: dict | None = None) -> ThreadChoice:
    """The intra-op thread count for a CPU run of a model with this many matmul parameters."""
    env = os.environ if environ is None else environ
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        return ThreadChoice(int(omp), f"OMP_NUM_THREADS={omp}")
    if n_matmul_params < TINY_MODEL_PARAMS:
        return ThreadChoice(1, f"model under {TINY_MODEL_PARAMS / 1e6:.0f}M matmul parameters: "
                               f"one thread (tiny matmuls do not split well)")
    cores = physical_cores()
    return ThreadChoice(cores, f"{cores} physical core(s) available to this process")


def apply_threads(n_matmul_params: int) -> ThreadChoice:
    """Choose and set torch's intra-op threads for this process; returns the choice to record."""
    import torch
    choice = choose_threads(n_matmul_params)
    torch.set_num_threads(choice.threads)
    return choice


def _measure_gemm_flops_per_cpu_second(n: int, trial_s: float, trials: int) -> float:
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)                      # warm-up: packing buffers, page faults
        best = 0.0
        for _ in range(trials):
            reps, t0 = 0, time.process_time()
            while True:
                torch.mm(a, b, out=c)
                reps += 1
                spent = time.process_time() - t0
                if spent >= trial_s:
                    break
            best = max(best, 2.0 * n ** 3 * reps / spent)
        return best
    finally:
        torch.set_num_threads(previous)


def cache_file() -> Path:
    root = os.environ.get("KDTUNE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                          os.path.expanduser("~/.cache"), "kdtune")
    return Path(root) / "cpu_peak.json"


def calibration_key() -> str:
    import torch
    return f"{cpu_model()} | torch {torch.__version__} | 1 thread"


def cpu_peak_tflops(refresh: bool = False) -> dict:
    """{"peak_tflops": per core-second, "basis", "key", "measured_at", "cached"} for this machine.

    Measured once and cached; an unreadable or unwritable cache only costs a re-measurement. Under
    load one calibration read 158 GFLOPS where an earlier one read 170 on this machine: `refresh`
    measures again and keeps the higher figure.
    """
    path, key = cache_file(), calibration_key()
    table = {}
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    entry = table.get(key) if isinstance(table, dict) else None
    if entry and not refresh and isinstance(entry.get("peak_tflops"), (int, float)) and entry["peak_tflops"] > 0:
        return {**entry, "key": key, "cached": True}
    flops = _measure_gemm_flops_per_cpu_second(CALIBRATION_SIZE, CALIBRATION_TRIAL_S, CALIBRATION_TRIALS)
    # A peak is a maximum: a re-measurement (refresh) under load can only keep or raise it.
    best = max(flops / 1e12, entry["peak_tflops"] if entry and isinstance(entry.get("peak_tflops"), float) else 0.0)
    entry = {"peak_tflops": best, "basis": PEAK_BASIS, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        table = table if isinstance(table, dict) else {}
        table[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, table)
    except OSError:
        pass
    return {**entry, "key": key, "cached": False}
