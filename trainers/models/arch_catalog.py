"""Architecture numbers of a model by name, offline: shipped catalogue, local directory or hub cache.

`load_arch` accepts
  * a hub id of a catalogued model, any case: "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
  * a short alias: "r1-distill-qwen-1.5b", "qwen2.5-7b", "llama-3.1-8b", "exaone-3.5-2.4b"
  * a local model directory (or its config.json), e.g. a `save_pretrained` output or hub snapshot
  * "tiny:qwen2" / "tiny:llama" (the smoke models, built locally on first use)
  * any other hub id whose config.json is already in the local Hugging Face cache.

The shipped files (trainers/models/architectures/*.json) copy the relevant fields of each model's published
config.json plus `hub_id`, `also_hub_ids` (instruct/base variants with the same shapes) and
`aliases`. EXAONE's custom-code config names some fields differently (`num_layers`,
`layer_norm_epsilon`); `normalise_config` maps those and GPT-style names (`n_embd`, ...) to the
transformers names before building the ArchSpec.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainers.errors import UserError
from trainers.models.arch_spec import ArchSpec

ARCH_DIR = Path(__file__).resolve().parent / "architectures"

# Other spellings of the transformers key names, as found in custom-code configs.
KEY_ALIASES = {
    "num_layers": "num_hidden_layers",          # EXAONE 3.x
    "n_layer": "num_hidden_layers",             # GPT-2 style
    "n_embd": "hidden_size",
    "n_head": "num_attention_heads",
    "n_inner": "intermediate_size",
    "n_positions": "max_position_embeddings",
    "layer_norm_epsilon": "rms_norm_eps",       # EXAONE 3.x (it is an RMSNorm epsilon there)
}
REQUIRED = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "vocab_size")

# Linear-layer names per model family, mapped to the Qwen2/Llama names ArchSpec.linear_shapes uses,
# so `lora.target_modules: [out_proj, c_fc_0]` means the same layers on EXAONE as o_proj/gate_proj do.
MODULE_ALIASES = {
    "exaone": {"out_proj": "o_proj", "c_fc_0": "gate_proj", "c_fc_1": "up_proj", "c_proj": "down_proj"},
}


def normalise_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config.json mapping with transformers' standard key names (first spelling found wins)."""
    if "text_config" in cfg and "hidden_size" not in cfg:   # multimodal wrapper: use the LM part
        cfg = {**cfg, **cfg["text_config"]}
    out = dict(cfg)
    for other, standard in KEY_ALIASES.items():
        if other in cfg and standard not in cfg:
            out[standard] = cfg[other]
    return out


def _default_tie(model_type: str) -> bool:
    """transformers writes only non-default values into config.json, so a missing
    `tie_word_embeddings` means the config class's default (False for Qwen2/Llama, True for the
    PretrainedConfig base that custom-code models like EXAONE inherit)."""
    try:
        from transformers import CONFIG_MAPPING
        return bool(CONFIG_MAPPING[model_type]().tie_word_embeddings)
    except Exception:
        return True


def spec_from_config(cfg: dict[str, Any], where: str) -> ArchSpec:
    cfg = normalise_config(cfg)
    missing = [k for k in REQUIRED if cfg.get(k) is None]
    if missing:
        raise UserError(f"{where}: config lacks {', '.join(missing)} — is this a decoder-only "
                        f"language model's config.json?")
    if "tie_word_embeddings" not in cfg:
        cfg["tie_word_embeddings"] = _default_tie(cfg["model_type"])
    return ArchSpec.from_hf_config(cfg)


@lru_cache(maxsize=None)
def shipped() -> dict[str, dict[str, Any]]:
    """File stem -> parsed shipped config."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(ARCH_DIR.glob("*.json"))}


def _names_of(stem: str, cfg: dict[str, Any]) -> list[str]:
    names = [stem, cfg["hub_id"], cfg["hub_id"].split("/", 1)[1], *cfg.get("aliases", [])]
    for hub in cfg.get("also_hub_ids", []):
        names += [hub, hub.split("/", 1)[1]]
    return [n.lower() for n in names]


def catalogue_index() -> dict[str, str]:
    """Every accepted lower-case name -> file stem."""
    index: dict[str, str] = {}
    for stem, cfg in shipped().items():
        for name in _names_of(stem, cfg):
            if index.setdefault(name, stem) != stem:
                raise RuntimeError(f"architecture name {name!r} is claimed by {index[name]} and {stem}")
    return index


def known_names() -> list[str]:
    """Short names for messages and `--help`: one alias (the file stem) per catalogued model."""
    return sorted(shipped())


def load_arch_config(name_or_path: str) -> dict[str, Any]:
    """The normalised config mapping for a name or path (see module docstring for what is accepted)."""
    key = str(name_or_path).strip()
    stem = catalogue_index().get(key.lower())
    if stem is not None:
        return normalise_config(shipped()[stem])
    path = _local_config_path(key)
    if path is not None:
        try:
            return normalise_config(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"cannot read {path}: {e}") from None
    raise UserError(f"unknown model {key!r}: not a catalogued architecture, not a directory with a "
                    f"config.json, and not in the local Hugging Face cache. Catalogued: "
                    f"{', '.join(known_names())} (their hub ids work too).")


def load_arch(name_or_path: str) -> ArchSpec:
    return spec_from_config(load_arch_config(name_or_path), str(name_or_path))


def _local_config_path(key: str) -> Path | None:
    if key.startswith("tiny:"):
        from trainers.models.model_loading import resolve_model_source
        return Path(resolve_model_source(key)[0]) / "config.json"
    p = Path(key).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise UserError(f"model directory {p} has no config.json")
        return p / "config.json"
    if p.is_file() and p.name.endswith(".json"):
        return p
    if key.count("/") == 1 and not p.exists():
        try:   # a hub model already downloaded: read its cached config, never fetch
            from huggingface_hub import try_to_load_from_cache
            found = try_to_load_from_cache(key, "config.json")
        except Exception:
            found = None
        if isinstance(found, str):
            return Path(found)
    return None

