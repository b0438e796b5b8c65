"""train.strategy: ddp (every process holds the whole model) or fsdp (PyTorch FSDP2, `fully_shard`,
applied by accelerate: each process holds 1/world of every weight, gradient and optimizer state).

Sharding is accelerate's (FullyShardedDataParallelPlugin(fsdp_version=2) -> fsdp2_prepare_model ->
torch's fully_shard); this file only chooses it, and moves state in and out of the shards:
  * checkpoints hold FULL tensors (gathered from every rank, written by rank 0), in the same files a
    DDP run writes, so a checkpoint does not depend on the number of processes that made it;
  * the exported adapter / model is gathered whole before rank 0 writes it (peft loads it as usual).

Why the FSDP switch is set by hand on CPU: accelerate 1.15 turns `fsdp_plugin` into
DistributedType.FSDP only for GPU-like process types (accelerate/state.py: MULTI_GPU, MULTI_NPU, ...);
with several CPU processes (MULTI_CPU, gloo) it silently keeps plain DDP. FSDP2 itself runs on a CPU
device mesh over gloo, so `make_accelerator` makes the same switch accelerate makes for GPUs, and
`prepare_for_training` checks that the weights really are sharded afterwards (a later accelerate that
ignored the switch would fail loudly, not train unsharded).
"""
from __future__ import annotations

import torch

from trainers.errors import UserError


def make_accelerator(strategy: str, mixed_precision: str, cpu: bool):
    from accelerate import Accelerator, PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
    if strategy == "ddp":
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    # One FSDP unit per decoder layer (its class names are set from the model in prepare_for_training);
    # the root unit holds embeddings, final norm and head, which the chunked loss reads directly.
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy="transformer_based_wrap",
                                            reshard_after_forward=True, cpu_ram_efficient_loading=False)
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=cpu, fsdp_plugin=plugin)
    if accelerator.distributed_type == DistributedType.MULTI_CPU:   # see the module docstring
        state = accelerator.state
        state.distributed_type = PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        state.fsdp_plugin = plugin
        if state.mixed_precision != "no":
            plugin.set_mixed_precision(state.mixed_precision)
    return accelerator


def is_sharded(accelerator) -> bool:
    return bool(getattr(accelerator, "is_fsdp2", False))


def _dtensor():
    from torch.distributed.tensor import DTensor
    return DTensor


def sharded_model(model: torch.nn.Module) -> bool:
    """True once fully_shard has turned the model's parameters into DTensors."""
    DTensor = _dtensor()
    return any(isinstance(p, DTensor) for p in model.parameters())


def prepare_for_training(accelerator, loss_module: torch.nn.Module, model: torch.nn.Module, optimizer):
    """-> (loss_module, optimizer) ready for the loop. DDP: wrapped apart, as before. FSDP2: accelerate
    needs both together (it re-points the optimizer at the sharded parameters)."""
    if not is_sharded(accelerator):
        return (accelerator.prepare_model(loss_module, device_placement=False),
                accelerator.prepare_optimizer(optimizer))
    layers = getattr(model, "_no_split_modules", None)   # the decoder-layer classes (transformers)
    if not layers:
        raise UserError(f"train.strategy=fsdp: {type(model).__name__} names no decoder-layer classes "
                        f"(_no_split_modules), so there is nothing to shard layer by layer; use train.strategy=ddp")
    accelerator.state.fsdp_plugin.transformer_cls_names_to_wrap = list(layers)
    loss_module, optimizer = accelerator.prepare(loss_module, optimizer)
    if not sharded_model(model):
        raise RuntimeError("train.strategy=fsdp: accelerate returned an unsharded model")
    return loss_module, optimizer


def full_trainable_state(model: torch.nn.Module, keep: bool) -> dict[str, torch.Tensor]:
    """Trainable parameters as whole CPU tensors. Sharded: a collective (every rank must call it);
    `keep`: whether this rank keeps the result (rank 0 writes it), others get {}."""
    DTensor = _dtensor()
    out = {}
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        t = p.detach().full_tensor() if isinstance(p, DTensor) else p.detach()
        if keep:
            out[n] = t.contiguous().cpu()
    return out


def full_model_state(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """Every weight and buffer, whole, on rank 0 (None elsewhere): a full fine-tune's export.
    Collective under FSDP."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return state if dist.get_rank() == 0 else None


def load_trainable_state(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Copy whole tensors into the (sharded or plain) trainable parameters; every rank holds `weights`."""
    from torch.distributed.tensor import distribute_tensor
    DTensor = _dtensor()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in weights.items():
            p = params[n]
            if isinstance(p, DTensor):   # this rank's shard of the whole tensor
                t = distribute_tensor(t.to(p.device_mesh.device_type, p.dtype), p.device_mesh, p.placements)
            p.copy_(t.to(p.device, p.dtype))


def _inner(optimizer):
    return getattr(optimizer, "optimizer", optimizer)   # accelerate's AcceleratedOptimizer wraps one


def optimizer_state(model: torch.nn.Module, optimizer, is_main: bool) -> dict | None:
    """The optimizer's state for optimizer.pt, on the main rank (None elsewhere). Sharded: gathered
    whole (keyed by parameter name) — a collective."""
    if not sharded_model(model):
        return optimizer.state_dict() if is_main else None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
    state = get_optimizer_state_dict(model, _inner(optimizer),
                                     options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return state if is_main else None


def load_optimizer_state(model: torch.nn.Module, optimizer, state: dict) -> None:
    if not sharded_model(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
    set_optimizer_state_dict(model, _inner(optimizer), state, options=StateDictOptions(full_state_dict=True))
