"""Multi-node through the existing engine, on one machine: two torchrun agents started together, each
a "node" of one process, meet through a c10d rendezvous on 127.0.0.1 and train the same per-step losses
and gradient norms as one node of two processes (`kdtune run ... --nproc 2`). Nothing in kdtune knows
about nodes: rank 0 of the job picks the run directory and broadcasts it (trainers.run.session)."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import free_port, run_cli
from tests.recipes.test_fsdp_e2e import assert_same_curve

# LoRA dropout on: each process draws its own masks from seed + global rank, so a node that took
# another rank than in the 1-node run would change the curve
ARGS = ["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=4", "train.grad_accum=2",
        "train.micro_batch_size=2", "train.lr=1e-2", "lora.dropout=0.1", "train.save_every=2",
        "data.max_seq_len=128", "eval.max_batches=2"]


def test_two_nodes_of_one_process_equal_one_node_of_two(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    one = run_cli(ARGS + ["--nproc", "2", f"output.dir={tmp_path}", "output.name=one_node"], cwd=tmp_path,
                  env_extra={"OMP_NUM_THREADS": "1"})
    assert one.returncode == 0, (one.stdout + one.stderr)[-3000:]

    port = free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
                               f"--node-rank={n}", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
                               f"--rdzv-id=kdtune-test-{port}", "-m", "recipes.cli", *ARGS,
                               f"output.dir={tmp_path}", "output.name=two_nodes"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in range(2)]
    try:
        logs = [node.communicate(timeout=600)[0] for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    assert [node.returncode for node in nodes] == [0, 0], "\n\n".join(log[-2000:] for log in logs)

    two = tmp_path / "two_nodes"
    manifest = json.loads((two / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["result"]["steps"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one_node", "two_nodes"]   # one run, not two
    diff = assert_same_curve(tmp_path / "one_node", two, "loss", rel=1e-6, abs=1e-7)
    assert_same_curve(tmp_path / "one_node", two, "grad_norm", rel=1e-6)
    assert_same_curve(tmp_path / "one_node", two, "eval_loss", rel=1e-6)
    print(f"2 nodes x 1 vs 1 node x 2 max per-step loss diff: {diff:.3g}")
