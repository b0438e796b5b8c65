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
