"""The one training loop. Recipes differ only by the models they build and the loss module they pass.

`loss_module(batch) -> LossOutput(loss_sum, n_tokens, metrics)` returns the loss SUMMED over its
trained tokens. The loop divides by the number of trained tokens in the whole optimizer step —
across every micro-batch and every process — before backward, so gradient accumulation and
multi-process runs give exactly the gradient of one big batch (no mean-of-means bias).
"""
from __future__ import annotations

import resource
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from trainers.config.sections import EvalSection, TrainSection
from trainers.data.sft_data import BatchPlan, Example, collate
from trainers.optim import cosine_with_warmup, make_optimizer
from trainers.run.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from trainers.run.progress import Progress
from trainers.run.run_dir import RunDir
from trainers.run.sharding import is_sharded, prepare_for_training
from trainers.run.stopping import RunStopped, Stop, StopWatch


@dataclass
class LossOutput:
    loss_sum: torch.Tensor          # fp32 scalar, summed over trained tokens
    n_tokens: torch.Tensor          # trained tokens in this micro-batch
    metrics: dict = field(default_factory=dict)   # extra summed quantities to log (e.g. kd_sum)


@dataclass
class TrainResult:
    steps: int
    first_loss: float | None
    last_loss: float | None
    eval_loss: float | None
    seconds: float
    tokens: int
    resumed_from: int | None


def _all_sum(accelerator, value: torch.Tensor) -> torch.Tensor:
    value = value.detach().to(accelerator.device, torch.float64)
    return accelerator.reduce(value, reduction="sum") if accelerator.num_processes > 1 else value


def _memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # Linux: KiB -> GiB (RSS peak)


def evaluate(loss_module, examples: list[Example], micro_batch: int, pad_id: int, accelerator,
             max_batches: int) -> float | None:
    """Token-weighted mean loss over (a capped number of) evaluation micro-batches, all ranks."""
    if not examples:
        return None
    world, rank = accelerator.num_processes, accelerator.process_index
    total, tokens = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    # Forward through the unwrapped module: ranks may hold different numbers of evaluation batches,
    # and a DDP forward would wait for the other ranks (it syncs buffers on every call).
    sharded = is_sharded(accelerator)
    loss_module = accelerator.unwrap_model(loss_module)
    loss_module.eval()
    with torch.no_grad():
        for b in range(max_batches):
            start = (b * world + rank) * micro_batch
            chunk = examples[start:start + micro_batch]
            if not chunk:
                if not sharded or b * world * micro_batch >= len(examples):
                    break
                # FSDP: every forward all-gathers weights with the other ranks; a rank out of
                # batches joins with a forward whose result it drops, or the others would wait forever
                loss_module(collate(examples[:micro_batch], pad_id))
                continue
            out = loss_module(collate(chunk, pad_id))
            total += out.loss_sum.double().cpu()
            tokens += out.n_tokens.double().cpu()
    loss_module.train()
    total, tokens = _all_sum(accelerator, total), _all_sum(accelerator, tokens)
    return float(total / tokens) if tokens > 0 else None


def _section(meter, kind: str):
    """Evaluation / checkpoint time: reported by the meter beside training, not billed as it."""
    return nullcontext() if meter is None else meter.section(kind)


def _saved_on_cpu(enabled: bool, device: torch.device):
    if not enabled:
        return nullcontext()
    return torch.autograd.graph.save_on_cpu(pin_memory=device.type == "cuda")


def accumulate_gradients(loss_module, batches: list[dict], accelerator, offload: bool = False):
    """Backward over one optimizer step's micro-batches, each scaled by world / (trained tokens in the
    whole step on all processes); DDP's gradient average then yields sum-over-tokens / total tokens.
    -> (summed loss on this rank, summed extra metrics, global trained tokens, global input tokens).
    `offload` packs every tensor saved for backward into CPU memory during the forward (with
    gradient checkpointing that is just the layer boundaries) and brings it back in backward."""
    world = accelerator.num_processes
    global_targets = _all_sum(accelerator, sum(b["n_targets"] for b in batches).double())
    step_tokens = _all_sum(accelerator, sum(b["attention_mask"].sum() for b in batches).double())
    loss_total = torch.zeros((), dtype=torch.float64)
    extra: dict[str, torch.Tensor] = {}
    for j, batch in enumerate(batches):
        sync = j == len(batches) - 1
        with nullcontext() if sync or world == 1 else accelerator.no_sync(loss_module):
            with _saved_on_cpu(offload, accelerator.device):
                out = loss_module(batch)
            accelerator.backward(out.loss_sum * (world / global_targets.item()))
        loss_total += out.loss_sum.detach().double().cpu()
        for k, v in out.metrics.items():
            extra[k] = extra.get(k, 0) + v.detach().double().cpu()
    return loss_total, extra, global_targets, step_tokens


def train(loss_module: torch.nn.Module, model: torch.nn.Module, train_examples: list[Example],
          eval_examples: list[Example], pad_id: int, cfg: TrainSection, eval_cfg: EvalSection,
          run: RunDir, accelerator, resume_from=None, meter=None, progress: bool = True) -> TrainResult:
    """Train `model`'s trainable parameters by minimising `loss_module`; writes metrics/checkpoints.
    A stop signal or the time limit ends it early with a checkpoint: RunStopped (trainers/run/stopping.py)."""
    with StopWatch(cfg.time_limit, accelerator) as watch:
        return _train(loss_module, model, train_examples, eval_examples, pad_id, cfg, eval_cfg, run,
                      accelerator, resume_from, meter, progress, watch)


def _train(loss_module, model, train_examples, eval_examples, pad_id, cfg, eval_cfg, run, accelerator,
           resume_from, meter, progress, watch: StopWatch) -> TrainResult:
    world, rank, is_main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    plan = BatchPlan(len(train_examples), cfg.micro_batch_size, world, rank, cfg.seed)
    total_steps = cfg.max_steps or plan.steps_for(cfg.epochs, cfg.grad_accum)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg.optimizer, cfg.lr, cfg.weight_decay)
    scheduler = cosine_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps, cfg.min_lr_ratio)
    # The scheduler stays unprepared: accelerate would step it once per process per step.
    # from_pretrained returns eval mode, where transformers skips gradient checkpointing and LoRA
    # dropout is off: training must start in train mode (a frozen teacher stays outside this module)
    loss_module.train()
    loss_module, optimizer = prepare_for_training(accelerator, loss_module, model, optimizer)
    params = [p for p in model.parameters() if p.requires_grad]   # FSDP2 swapped in sharded ones

    start_step, resumed, tokens_seen = 0, None, 0
    if resume_from is not None:
        ckpt = latest_checkpoint(resume_from) if resume_from.name == "checkpoints" else resume_from
        if ckpt is not None:
            state = load_checkpoint(ckpt, model, optimizer, scheduler, rank, getattr(accelerator, "scaler", None))
            start_step = resumed = state["step"]
            tokens_seen = state.get("tokens_seen", 0)
            run.truncate_metrics(start_step)
    prog = Progress(total_steps, start_step, enabled=is_main and progress, every=cfg.log_every)
    if resumed is not None:
        prog.note(f"resumed from {ckpt} at step {resumed}")
    first_loss = last_loss = eval_loss = None
    t0 = time.time()
    step_t = time.time()
    if meter is not None:   # the loop owns the meter: restored, started, sectioned, saved here
        if resumed is not None and "meter" in state:   # the part before the checkpoint counts once
            meter.load_state_dict(state["meter"])
        elif resumed is not None:
            prog.note("checkpoint has no compute-meter state: compute.json covers only the resumed part")
        meter.start()

    def save(done: int):   # timed: the time limit keeps a margin for one more checkpoint
        began = time.time()
        with _section(meter, "checkpoint"):
            path = save_checkpoint(run.checkpoints, done, model, optimizer, scheduler,
                                   {"tokens_seen": tokens_seen, "micro_batches": done * cfg.grad_accum,
                                    # "spent": what the run has cost so far, read by `kdtune report
                                    # --group-by` for a run that never reaches its compute.json
                                    **({"meter": meter.state_dict(),
                                        "spent": meter.record(world).model_dump(mode="json")}
                                       if meter is not None else {})},
                                   rank, is_main, cfg.keep_last, accelerator.wait_for_everyone,
                                   scaler=getattr(accelerator, "scaler", None), config_text=run.config_text)
        watch.timed_checkpoint(time.time() - began)
        return path

    for step in range(start_step, total_steps):
        batches = [collate([train_examples[i] for i in plan.micro_batch(step * cfg.grad_accum + j)[1]], pad_id)
                   for j in range(cfg.grad_accum)]
        loss_total, extra, global_targets, step_tokens = accumulate_gradients(loss_module, batches, accelerator,
                                                                               cfg.activation_offload)
        grad_norm = None
        if cfg.max_grad_norm is not None:
            grad_norm = float(accelerator.clip_grad_norm_(params, cfg.max_grad_norm))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss = float(_all_sum(accelerator, loss_total) / global_targets)
        first_loss = loss if first_loss is None else first_loss
        last_loss = loss
        tokens_seen += int(step_tokens)
        if meter is not None:
            meter.add_tokens(int(step_tokens), target_tokens=int(global_targets))   # head: targets only
        now = time.time()
        row = {"step": step + 1, "loss": loss, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
               "targets": int(global_targets), "tokens": int(step_tokens),
               "tokens_per_s": float(step_tokens) / max(now - step_t, 1e-9),
               "elapsed_s": now - t0, "memory_gib": round(_memory_gib(accelerator.device), 3)}
        for k, v in extra.items():
            row[k] = float(_all_sum(accelerator, v) / global_targets)
        if meter is not None:   # running MFU so far (model FLOPs / peak), None without a known peak
            row["mfu"] = meter.snapshot()["mfu"]
        watch.timed_step(now - step_t)
        step_t = now
        if eval_cfg.every_steps and (step + 1) % eval_cfg.every_steps == 0 and step + 1 < total_steps:
            with _section(meter, "eval"):
                row["eval_loss"] = evaluate(loss_module, eval_examples, cfg.micro_batch_size, pad_id,
                                            accelerator, eval_cfg.max_batches)
        if (step + 1) % cfg.log_every == 0 or step + 1 == total_steps:
            run.log_metrics(row)
        prog.update(step + 1, row)
        saved = None
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total_steps:
            saved = save(step + 1)
        # every rank asks every step (a collective); the last step simply finishes the run
        reason = watch.should_stop() if step + 1 < total_steps else None
        if reason is not None:
            saved = saved or save(step + 1)
            prog.close()
            raise RunStopped(Stop(reason, step + 1, total_steps, saved, watch.exit_code(reason)), is_main)
    if meter is not None:
        meter.pause()
    with _section(meter, "eval"):
        eval_loss = evaluate(loss_module, eval_examples, cfg.micro_batch_size, pad_id, accelerator,
                             eval_cfg.max_batches)
    if eval_loss is not None:
        run.log_metrics({"step": total_steps, "eval_loss": eval_loss})
        prog.note(f"eval loss {eval_loss:.4f}")
    prog.close()
    return TrainResult(steps=total_steps, first_loss=first_loss, last_loss=last_loss, eval_loss=eval_loss,
                       seconds=time.time() - t0, tokens=tokens_seen, resumed_from=resumed)
