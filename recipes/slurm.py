"""`kdtune slurm`: print an sbatch script that trains a config on N nodes x G GPUs, pre-emption safe.

    kdtune slurm --config finance/r1-distill-qwen-1.5b_qlora_8gb.yaml --nodes 2 --gpus-per-node 4 \\
        --time 04:00:00 --partition gpu > job.sh && sbatch job.sh

The script starts one torchrun per node with srun (c10d rendezvous on the first node of the job),
each running `kdtune run` with `train.resume=auto` into a run directory named after the job id.
`--signal=B:USR1@GRACE` has SLURM warn the script GRACE seconds before the time limit; the script
passes the signal to srun, srun to torchrun on every node, torchrun to the workers, and the run
finishes its step, checkpoints and exits 75 (trainers/run/stopping.py). On 75 the script requeues
the job (`--requeue`, `scontrol requeue`); the requeued job keeps its id, so it finds the same run
directory and continues from the checkpoint. A pre-emption's SIGTERM takes the same path.
"""
from __future__ import annotations

import shlex
import sys

from trainers.errors import UserError

# SLURM sends --signal up to 60 s earlier than asked; GRACE must cover one step + one checkpoint.
DEFAULT_GRACE = 300

TEMPLATE = """#!/bin/bash
# Written by: {command}
# Submit from the directory the run should start in: sbatch THIS_FILE. Log: {job_name}-<job id>.log
# Pre-emption safe: SIGUSR1 {grace} s before the time limit (or a pre-emption's SIGTERM) makes the
# run checkpoint and exit 75; the job is then requeued and continues from that checkpoint.
#SBATCH --job-name={job_name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus}
#SBATCH --time={time}
{partition}#SBATCH --signal=B:USR1@{grace}
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.log
set -uo pipefail

cd "${{SLURM_SUBMIT_DIR:-.}}"
PYTHON="${{KDTUNE_PYTHON:-{python}}}"
HEAD_NODE="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
PORT=$((20000 + SLURM_JOB_ID % 20000))
export KDTUNE_EXIT_FILE="$PWD/.kdtune-$SLURM_JOB_ID.exit"   # rank 0 writes its exit status here
rm -f "$KDTUNE_EXIT_FILE"
echo "kdtune: job $SLURM_JOB_ID, start ${{SLURM_RESTART_COUNT:-0}}, nodes $SLURM_JOB_NODELIST, rendezvous $HEAD_NODE:$PORT"

# --signal=B:... reaches this shell only: hand it on (srun passes signals to its tasks)
SRUN=""
trap '[ -n "$SRUN" ] && kill -USR1 "$SRUN" 2>/dev/null' USR1
trap '[ -n "$SRUN" ] && kill -TERM "$SRUN" 2>/dev/null' TERM
srun --ntasks-per-node=1 --kill-on-bad-exit=0 \\
  "$PYTHON" -m torch.distributed.run --nnodes={nodes} --nproc-per-node={gpus} \\
    --rdzv-backend=c10d --rdzv-endpoint="$HEAD_NODE:$PORT" --rdzv-id="$SLURM_JOB_ID" \\
    {torchrun_args} \\
    -m recipes.cli run {recipe} --config {config} {overrides}\\
    output.name="{run_stem}-$SLURM_JOB_ID" train.resume=auto &
SRUN=$!
while :; do
  wait "$SRUN"; status=$?
  kill -0 "$SRUN" 2>/dev/null || break   # wait also returns when a trapped signal arrives
done
# torchrun reports its own status, not its workers': the run's is in the exit file
if [ -s "$KDTUNE_EXIT_FILE" ]; then status="$(head -n 1 "$KDTUNE_EXIT_FILE")"; fi
if [ "$status" = {requeue} ]; then
  echo "kdtune: stopped to be requeued (checkpoint written); requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
"""


def sbatch_script(config: str, nodes: int, gpus_per_node: int, time: str, partition: str | None = None,
                  overrides: list[str] = (), grace: int = DEFAULT_GRACE, command: str = "") -> str:
    from recipes.launch import torchrun_args
    from trainers.config.loader import load_config, resolve_config_path
    from trainers.config.sections import parse_duration
    from trainers.run.stopping import EXIT_REQUEUE

    if nodes < 1 or gpus_per_node < 1:
        raise UserError(f"--nodes and --gpus-per-node must be at least 1 (got {nodes} and {gpus_per_node})")
    try:
        seconds = parse_duration(time)
    except ValueError as e:
        raise UserError(f"--time: {e}") from None
    if not 60 <= grace < seconds:
        raise UserError(f"--grace {grace} s must be at least 60 (SLURM's signal resolution) and shorter "
                        f"than --time {time} ({seconds:.0f} s)")
    bad = [o for o in overrides if o.startswith(("train.resume=", "output.name="))]
    if bad:
        raise UserError(f"{', '.join(bad)}: the script sets train.resume=auto and output.name=<config>-<job "
                        f"id> itself, so that a requeued job continues its own run")
    cfg = load_config(config, list(overrides))   # a config error shows now, not after hours in the queue
    if not hasattr(cfg, "train"):
        raise UserError(f"{config}: recipe '{cfg.recipe}' trains nothing itself; kdtune slurm runs training recipes")
    path = resolve_config_path(config).resolve()
    # torchrun waits this long for the workers to checkpoint after passing them the signal
    launch = [a if not a.startswith("--shutdown-timeout=") else f"--shutdown-timeout={grace}"
              for a in torchrun_args()]
    return TEMPLATE.format(
        command=command or "kdtune slurm", job_name=f"kdtune-{path.stem}", nodes=nodes, gpus=gpus_per_node,
        time=time, grace=grace, partition=f"#SBATCH --partition={partition}\n" if partition else "",
        python=shlex.quote(sys.executable), torchrun_args=" ".join(launch), recipe=cfg.recipe,
        config=shlex.quote(str(path)), overrides="".join(shlex.quote(o) + " " for o in overrides),
        run_stem=path.stem, requeue=EXIT_REQUEUE)


def cmd_slurm(args) -> int:
    command = shlex.join(["kdtune", "slurm", *sys.argv[2:]]) if sys.argv[1:2] == ["slurm"] else "kdtune slurm"
    print(sbatch_script(args.config, args.nodes, args.gpus_per_node, args.time, args.partition,
                        args.overrides, args.grace, command), end="")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("slurm", help="print a pre-emption-safe sbatch script for a config",
                              description="Print an sbatch script: srun + torchrun (c10d rendezvous) on "
                                          "N nodes x G GPUs, SIGUSR1 before the time limit, checkpoint, "
                                          "exit 75 and requeue, train.resume=auto. docs/clusters.md.")
    p.add_argument("--config", required=True, help="YAML config of a training recipe (path or shipped name)")
    p.add_argument("--nodes", type=int, required=True, help="nodes (one torchrun each)")
    p.add_argument("--gpus-per-node", type=int, required=True, help="GPUs per node (one process each)")
    p.add_argument("--time", required=True, help="job time limit, [D-]HH:MM:SS")
    p.add_argument("--partition", help="SLURM partition (default: the cluster's)")
    p.add_argument("--grace", type=int, default=DEFAULT_GRACE,
                   help=f"seconds before the time limit to checkpoint and stop (default {DEFAULT_GRACE}): "
                        f"at least one step and one checkpoint")
    p.add_argument("overrides", nargs="*", metavar="key.sub=value", help="dotted config overrides, as for `run`")
    p.set_defaults(func=cmd_slurm)
