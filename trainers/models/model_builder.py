"""Build the model a recipe trains: dtype, optional 4-bit base (QLoRA), optional LoRA adapters.

LoRA/QLoRA is an option of model building used by every recipe, not a recipe of its own. QLoRA
keeps the non-quantised parts (embeddings, norms, output head) in the compute dtype and only the
LoRA weights in fp32 — it deliberately does not call peft's prepare_model_for_kbit_training, which
upcasts every non-quantised weight to fp32 (about 1 GiB extra for a 1.5B model's embeddings+head).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from trainers.config.sections import LoraSection, ModelSection, QuantSection
from trainers.errors import UserError
from trainers.models.model_loading import load_pretrained, resolve_model_source
from trainers.models.precision import torch_dtype



@dataclass
class BuiltModel:
    model: torch.nn.Module       # PeftModel when LoRA is on, else the transformers model
    tokenizer: object
    source: str                  # resolved local dir or hub id
    method: str                  # full | lora | qlora
    provenance: dict | None = None   # packaged/GGUF models: package, file sha256, licence (trainers.models.model_sources)


GENERIC_TOKENIZER_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}


def tokenizer_loader(source: str):
    """AutoTokenizer, except for a local tokenizer saved as a generic tokenizers backend: transformers
    5 would then pick a class from the model type (e.g. Qwen2Tokenizer) and rebuild the pipeline with
    that family's pre-tokenizer and extra tokens, silently changing the tokenisation."""
    import json
    from pathlib import Path

    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    cfg_file = Path(source) / "tokenizer_config.json"
    if cfg_file.is_file() and json.loads(cfg_file.read_text()).get("tokenizer_class") in GENERIC_TOKENIZER_CLASSES:
        return PreTrainedTokenizerFast
    return AutoTokenizer


def load_tokenizer(model_cfg: ModelSection):
    source, local_only = resolve_model_source(model_cfg.path, model_cfg.revision)
    tok = load_pretrained(tokenizer_loader(source), source, local_only, revision=model_cfg.revision,
                          trust_remote_code=model_cfg.trust_remote_code)
    if tok.pad_token is None:  # Llama 3 ships none; the pad id only fills masked positions
        tok.pad_token = tok.eos_token
    return tok


def bnb_config(quant: QuantSection, compute_dtype: torch.dtype, float_storage: bool = False):
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError("quant.load_in_4bit needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant.quant_type,
                              bnb_4bit_use_double_quant=quant.double_quant,
                              bnb_4bit_compute_dtype=compute_dtype,
                              # train.strategy=fsdp: the packed 4-bit codes held in a float tensor (same
                              # bytes): FSDP2 shards only floating tensors and keeps a uint8 base whole on every rank
                              bnb_4bit_quant_storage=compute_dtype if float_storage else torch.uint8)


def load_base_model(model_cfg: ModelSection, weight_dtype: torch.dtype, device: torch.device,
                    quant: QuantSection | None = None, float_storage: bool = False):
    """The transformers model on `device`, 4-bit when quant.load_in_4bit."""
    from transformers import AutoModelForCausalLM
    source, local_only = resolve_model_source(model_cfg.path, model_cfg.revision)
    kwargs = dict(revision=model_cfg.revision, trust_remote_code=model_cfg.trust_remote_code,
                  dtype=weight_dtype, attn_implementation=model_cfg.attn_implementation)
    if quant is not None and quant.load_in_4bit:
        kwargs["quantization_config"] = bnb_config(quant, weight_dtype, float_storage)
        # accelerate's single-process device is plain "cuda" (no index); bitsandbytes needs a real one
        index = device.index if device.index is not None else torch.cuda.current_device() if device.type == "cuda" else None
        kwargs["device_map"] = {"": index if device.type == "cuda" else "cpu"}
    model = load_pretrained(AutoModelForCausalLM, source, local_only, **kwargs)
    if "quantization_config" not in kwargs:
        model.to(device)
    if model_cfg.keep_layers is not None:   # a student cut from this model: before LoRA wraps it
        from trainers.models.layer_subset import keep_layers
        keep_layers(model, model_cfg.keep_layers)
    return model, source


def add_lora(model, lora: LoraSection):
    from peft import LoraConfig, get_peft_model
    peft_cfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                          target_modules=lora.target_modules, task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, peft_cfg)
    except ValueError as e:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                        if isinstance(m, torch.nn.Linear)})
        raise UserError(f"lora.target_modules={lora.target_modules!r} does not fit this model "
                        f"({str(e).splitlines()[0]}); its linear layers are: {', '.join(names)}") from None


def build_model(model_cfg: ModelSection, lora: LoraSection, quant: QuantSection, compute_dtype: torch.dtype,
                device: torch.device, gradient_checkpointing: bool, sharded: bool = False) -> BuiltModel:
    """Base weights in the compute dtype when frozen (LoRA/QLoRA), fp32 master weights for full
    fine-tuning (the optimizer needs them; autocast handles bf16/fp16 compute)."""
    if model_cfg.dtype != "auto":
        weight_dtype = torch_dtype(model_cfg.dtype)
    else:
        weight_dtype = compute_dtype if lora.enabled else torch.float32
    model, source = load_base_model(model_cfg, weight_dtype, device, quant, float_storage=sharded)
    model.config.use_cache = False  # the KV cache only costs memory during training
    if gradient_checkpointing:
        # Non-reentrant: works with frozen inputs (no enable_input_require_grads hack) and with LoRA.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora.enabled:
        model = add_lora(model, lora)
    tokenizer = load_tokenizer(model_cfg)
    method = "qlora" if quant.load_in_4bit else ("lora" if lora.enabled else "full")
    from trainers.models.model_sources import provenance
    return BuiltModel(model=model, tokenizer=tokenizer, source=source, method=method,
                      provenance=provenance(source))


def trainable_parameters(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def causal_lm_parts(model):
    """(decoder returning hidden states, output head Linear) of a plain or PEFT-wrapped causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(base, base.base_model_prefix, None) or base.model
    return decoder, base.get_output_embeddings()
