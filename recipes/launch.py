"""`--nproc N`: start N local processes through torchrun, each running the same command.

Every process agrees on the run directory: rank 0 picks it and broadcasts it (trainers.run.session).
Clusters use their own engine instead: `accelerate launch -m recipes.cli run ...` or `torchrun`.
"""
from __future__ import annotations

import subprocess
import sys


def relaunch(nproc: int, argv: list[str]) -> int:
    args, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "recipes.cli", *args]
    return subprocess.call(cmd)
