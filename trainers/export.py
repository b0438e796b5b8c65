"""Final artefacts: the PEFT adapter (or full weights) and an optional merged model."""
from __future__ import annotations

from pathlib import Path

import torch

from trainers.config.sections import ModelSection
from trainers.model_builder import load_base_model, load_tokenizer


def save_trained(model, tokenizer, out: Path, is_lora: bool) -> Path:
    """adapter/ for LoRA/QLoRA (loadable with peft.PeftModel.from_pretrained), model/ for full FT."""
    target = out / ("adapter" if is_lora else "model")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def merge_adapter(model_cfg: ModelSection, adapter_dir: Path, out_dir: Path,
                  dtype: torch.dtype = torch.float32) -> Path:
    """Base (reloaded unquantised, so QLoRA adapters merge into real weights) + adapter, merged."""
    from peft import PeftModel
    base, _ = load_base_model(model_cfg, dtype, torch.device("cpu"))
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir)
    load_tokenizer(model_cfg).save_pretrained(out_dir)
    return out_dir


def finish_training(session, cfg, built, result, meter, manifest: dict) -> None:
    """The end of every training recipe: compute.json, adapter (or full weights), optional merged
    export, then the manifest — last, so its presence marks a complete run."""
    from trainers.metering import write_compute
    from trainers.session import write_manifest
    # the teacher artefacts this run trained from (kd.cache_dir, a traces data.path) are carried in
    compute = write_compute(session.run, meter, world_size=session.accelerator.num_processes, cfg=cfg)
    outputs = {}
    if session.accelerator.is_main_process:
        outputs["trained"] = str(save_trained(built.model, built.tokenizer, session.run.path, cfg.lora.enabled))
        if cfg.output.merge and cfg.lora.enabled:
            outputs["merged"] = str(merge_adapter(cfg.model, session.run.path / "adapter", session.run.path / "merged"))
    write_manifest(session, cfg, {"method": built.method, "model_source": built.source,
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
