"""`--smoke`: run any config for a few steps with a tiny random model of the same family.

Everything else in the config — LoRA/QLoRA, data, loss, checkpointing — stays as written, so a
user's CI exercises their own recipe end to end in seconds on a CPU.
"""
from __future__ import annotations

import json
from pathlib import Path

FAMILY = {"qwen2": "qwen2", "qwen3": "qwen2", "llama": "llama", "exaone": "llama", "mistral": "llama",
          "gemma3": "gemma3", "gemma3_text": "gemma3", "gemma2": "gemma3", "gemma": "gemma3"}


def model_family(path: str) -> str:
    """Tiny architecture standing in for `path`: from a local config.json, a GGUF file's header,
    the shipped catalogue (packaged names such as gemma-3-270m are catalogued), or the name itself."""
    if path.startswith("tiny:"):
        return path.split(":", 1)[1]
    local = Path(path).expanduser() / "config.json"
    model_type = None
    if local.is_file():
        model_type = json.loads(local.read_text()).get("model_type")
    elif path.lower().endswith(".gguf") and Path(path).expanduser().is_file():
        from trainers.models.gguf_convert import gguf_metadata
        model_type = gguf_metadata(Path(path).expanduser()).get("general.architecture")
    else:
        try:
            from trainers.models.arch_catalog import load_arch
            model_type = load_arch(path).model_type
        except Exception:   # unknown to the catalogue: fall back on the name
            model_type = next((k for k in FAMILY if k.rstrip("2") in path.lower()), None)
    return FAMILY.get((model_type or "").lower(), "qwen2")


def _tiny_teacher(teacher) -> None:
    """Distillation configs: the teacher becomes a tiny model too (4-bit loading is kept)."""
    teacher.path = f"tiny:{model_family(teacher.path)}"
    teacher.trust_remote_code = False
    teacher.dtype = "auto"


def apply_smoke(cfg, steps: int = 4):
    """Mutates and returns cfg for a few-step run of a tiny model on CPU or GPU."""
    if cfg.recipe == "traces":   # no training: a few short generations from a tiny teacher
        _tiny_teacher(cfg.teacher)
        cfg.precision = "auto"
        cfg.data.max_examples = min(cfg.data.max_examples or 8, 8)
        cfg.generation.backend = "transformers"
        cfg.generation.max_new_tokens = min(cfg.generation.max_new_tokens, 16)
        cfg.generation.samples_per_prompt = min(cfg.generation.samples_per_prompt, 2)
        cfg.output.dir = cfg.output.dir.rstrip("/") + "-smoke"   # never mixed into the real dataset
        return cfg
    if getattr(cfg, "kd", None) is not None:
        _tiny_teacher(cfg.kd.teacher)
    cfg.model.path = f"tiny:{model_family(cfg.model.path)}"
    cfg.model.trust_remote_code = False
    cfg.model.chat_format = "auto"
    cfg.model.dtype = "auto"
    cfg.train.max_steps = min(cfg.train.max_steps or steps, steps)
    cfg.train.micro_batch_size = min(cfg.train.micro_batch_size, 2)
    cfg.train.grad_accum = min(cfg.train.grad_accum, 2)
    cfg.train.save_every = 2
    cfg.train.auto_fit = False
    cfg.train.precision = "auto"
    cfg.data.max_seq_len = min(cfg.data.max_seq_len, 256)
    cfg.data.max_examples = min(cfg.data.max_examples or 64, 64)
    cfg.eval.max_batches = 2
    return cfg
