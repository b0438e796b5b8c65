"""Per-rank seed: on 2 gloo processes the initial LoRA weights are identical (the shared seed before
model building) while the LoRA dropout masks differ (seed + rank after it)."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.helpers import free_port


def _worker(rank: int, world: int, port: int, cache: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), KDTUNE_CACHE=cache, HF_HUB_OFFLINE="1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from accelerate.utils import set_seed
    from trainers.config import load_config
    from trainers.models.model_builder import build_model
    from trainers.run.session import seed_this_rank
    cfg = load_config("smoke/tiny_lora.yaml", ["lora.dropout=0.5"])
    set_seed(cfg.train.seed)                       # what open_session does on every rank
    built = build_model(cfg.model, cfg.lora, cfg.quant, torch.float32, torch.device("cpu"), False)
    lora = {n: p.detach().clone() for n, p in built.model.named_parameters() if "lora_" in n}
    assert seed_this_rank(cfg.train.seed, rank) == cfg.train.seed + rank
    dropout = next(m for n, m in built.model.named_modules() if "lora_dropout" in n and isinstance(m, torch.nn.Dropout))
    dropout.train()
    mask = dropout(torch.ones(4096)) != 0
    gathered: list = [None] * world
    dist.all_gather_object(gathered, {"lora": lora, "mask": mask})
    if rank == 0:
        torch.save(gathered, out)
    dist.destroy_process_group()


def test_two_ranks_share_lora_init_but_not_dropout_masks(tmp_path):
    from trainers.models.tiny_model import ensure_tiny_model
    ensure_tiny_model("qwen2")     # built once here, not raced by two processes
    out = tmp_path / "gathered.pt"
    mp.spawn(_worker, args=(2, free_port(), os.environ["KDTUNE_CACHE"], str(out)), nprocs=2, join=True)
    r0, r1 = torch.load(out)
    assert r0["lora"].keys() == r1["lora"].keys() and len(r0["lora"]) > 0
    assert any(t.abs().sum() > 0 for t in r0["lora"].values())   # lora_A is random, not trivially equal
    for name in r0["lora"]:
        torch.testing.assert_close(r0["lora"][name], r1["lora"][name], rtol=0, atol=0)
    # p=0.5 over 4096 units: identical masks would mean shared generators; about half must differ
    differ = (r0["mask"] != r1["mask"]).float().mean().item()
    assert 0.4 < differ < 0.6, differ
    # and a rank's mask is a real dropout mask (about half kept), not all-ones
    assert 0.4 < r0["mask"].float().mean().item() < 0.6
