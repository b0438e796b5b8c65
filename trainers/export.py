"""Final artefacts: the PEFT adapter (or full weights) and an optional merged model."""
from __future__ import annotations

from pathlib import Path

import torch

from data_tools.atomic import honour_umask
from trainers.config.sections import ModelSection
from trainers.models.model_builder import load_base_model, load_tokenizer


def save_trained(model, tokenizer, out: Path, is_lora: bool, state: dict | None = None) -> Path:
    """adapter/ for LoRA/QLoRA (loadable with peft.PeftModel.from_pretrained), model/ for full FT.
    `state`: whole tensors gathered from an FSDP-sharded model (gathered_export_state)."""
    target = out / ("adapter" if is_lora else "model")
    model.save_pretrained(target, **({"state_dict": state} if state is not None else {}))
    tokenizer.save_pretrained(target)
    return honour_umask(target)   # weights come out 0600 (safetensors); shared runs are read by a group


def gathered_export_state(model, is_lora: bool, is_main: bool) -> dict | None:
    """None unless the model is FSDP-sharded; then (a collective: every rank calls it) the whole
    tensors rank 0 writes — the trainable ones for an adapter (peft picks the LoRA keys), every
    weight for a full fine-tune."""
    from trainers.run.sharding import full_model_state, full_trainable_state, sharded_model
    if not sharded_model(model):
        return None
    return full_trainable_state(model, keep=is_main) if is_lora else full_model_state(model)


def merge_dtype(requested: str, model_cfg: ModelSection, compute_dtype: torch.dtype) -> torch.dtype:
    """output.merge_dtype -> the dtype merged weights are written in. "auto" keeps the training
    dtype where it is 16-bit (GPU); CPU runs compute in fp32, but a merged real model is shipped
    in bf16 like the checkpoints it came from, at half the size. Tiny smoke models stay fp32."""
    from trainers.models.precision import torch_dtype
    if requested != "auto":
        return torch_dtype(requested)
    if compute_dtype in (torch.bfloat16, torch.float16):
        return compute_dtype
    return torch.float32 if model_cfg.path.startswith("tiny:") else torch.bfloat16


def merged_model(model_cfg: ModelSection, adapter_dir: Path):
    """Base (reloaded unquantised in fp32, so QLoRA adapters merge into real weights) + adapter,
    merged in memory: what merge_adapter writes and GGUF export converts (trainers.serving)."""
    from peft import PeftModel
    base, _ = load_base_model(model_cfg, torch.float32, torch.device("cpu"))
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()


def merge_adapter(model_cfg: ModelSection, adapter_dir: Path, out_dir: Path, dtype: torch.dtype) -> Path:
    """Base (reloaded unquantised, so QLoRA adapters merge into real weights) + adapter, merged,
    written in `dtype` (see merge_dtype): the merge itself runs in fp32, so rounding happens once."""
    merged = merged_model(model_cfg, adapter_dir).to(dtype)
    merged.config.dtype = dtype    # what from_pretrained(..., dtype="auto") will load it as
    merged.save_pretrained(out_dir)
    load_tokenizer(model_cfg).save_pretrained(out_dir)
    return honour_umask(out_dir)


def finish_training(session, cfg, built, result, meter, manifest: dict) -> None:
    """The end of every training recipe: compute.json, adapter (or full weights), optional merged
    export, then the manifest — last, so its presence marks a complete run."""
    from trainers.compute.metering import write_compute
    from trainers.run.session import write_manifest
    # the teacher artefacts this run trained from (kd.cache_dir, a traces data.path) are carried in
    compute = write_compute(session.run, meter, world_size=session.accelerator.num_processes, cfg=cfg)
    outputs = {}
    state = gathered_export_state(built.model, cfg.lora.enabled, session.accelerator.is_main_process)
    if session.accelerator.is_main_process:
        outputs["trained"] = str(save_trained(built.model, built.tokenizer, session.run.path, cfg.lora.enabled,
                                              state))
        if cfg.output.merge and cfg.lora.enabled:
            dtype = merge_dtype(cfg.output.merge_dtype, cfg.model, session.compute_dtype)
            outputs["merged"] = str(merge_adapter(cfg.model, session.run.path / "adapter",
                                                  session.run.path / "merged", dtype))
        if manifest.get("chat_format"):   # the format travels with the weights (trainers.data.chat_templates)
            from trainers.data.chat_templates import export_chat_format
            for out in outputs.values():
                export_chat_format(Path(out), built.tokenizer, manifest["chat_format"])
    write_manifest(session, cfg, {"method": built.method, "sharded": state is not None,   # FSDP really ran
                                  "model_source": built.source,
                                  "model_provenance": built.provenance, **manifest,
                                  "result": result.__dict__, "outputs": outputs, "pflops": compute["pflops"],
                                  "compute": {"device": compute["device"], "threads": compute["threads"],
                                              "threads_reason": compute["threads_reason"],
                                              "peak_tflops": compute["peak_tflops"],
                                              "peak_source": compute["peak_source"],
                                              "total_pflops": compute["totals"]["pflops"]}})
    if session.accelerator.is_main_process:
        print(f"run complete: {session.run.path}  steps={result.steps} first_loss={result.first_loss} "
              f"last_loss={result.last_loss} eval_loss={result.eval_loss}")
