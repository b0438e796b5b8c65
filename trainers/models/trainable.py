"""Which weights a run trains — decided once, in ArchSpec's module names, and handed to everything
that needs it (the FLOP counter, the planner, the manifest).

Two readings of the same fact, one vocabulary:
  * `config_block_targets(arch, target_modules)` — before any model exists (the planner, auto-fit):
    what peft will adapt for `lora.target_modules`, with family spellings (EXAONE's custom-code
    `out_proj`, `c_fc_0`, ...) mapped through the catalogue's aliases (trainers.models.arch_catalog).
  * `resolve_trainable(model, method)` — after peft has wrapped the model: the block linears that
    actually carry a LoRA adapter, read from the modules, mapped through the same aliases; whether
    the output head and the input embeddings train is read from their parameters.
A test builds tiny models and checks that both readings agree, and that the adapter FLOPs and the
planner's LoRA parameter count equal the adapter parameters the model really has.

The output head and the input embeddings are never LoRA targets: the chunked losses
(trainers/losses) read `head.weight` directly, so a head adapter would be billed and never trained,
and an embedding adapter has no FLOP term. The config refuses them (`HEAD_OR_EMBEDDING_NAMES` in
trainers/config/sections.py, checked when lora.target_modules is validated: exit 2 before any model loads); `resolve_trainable`
re-checks the wrapped model so a family with other spellings cannot slip one through.
"""
from __future__ import annotations

from dataclasses import dataclass

from trainers.config.sections import HEAD_OR_EMBEDDING_NAMES, head_or_embedding_targets, refusal_message
from trainers.errors import UserError
from trainers.models.arch_spec import ArchSpec

@dataclass(frozen=True)
class TrainableSet:
    """What trains, in ArchSpec.linear_shapes() names. `block_targets` is empty for full fine-tuning
    (all weights train, `head` and `embeddings` True)."""
    method: str                          # full | lora | qlora
    lora_r: int | None
    block_targets: tuple[str, ...]       # adapted block linears (LoRA/QLoRA)
    head: bool                           # the output head's weight trains
    embeddings: bool                     # the input embedding table trains
    trainable_params: int = 0            # parameters with requires_grad, as the optimizer sees them

    @property
    def lora(self) -> bool:
        return self.method in ("lora", "qlora")

    def to_dict(self) -> dict:
        return {"method": self.method, "lora_r": self.lora_r, "block_targets": list(self.block_targets),
                "head": self.head, "embeddings": self.embeddings, "trainable_params": self.trainable_params}


def canonical_name(model_type: str, leaf: str) -> str:
    from trainers.models.arch_catalog import MODULE_ALIASES
    return MODULE_ALIASES.get(model_type, {}).get(leaf, leaf)


def config_block_targets(arch: ArchSpec, target_modules) -> tuple[str, ...]:
    """The block linears peft adapts for `target_modules` ('all-linear': every block linear, never
    the head), canonical names in linear_shapes() order; an unknown name is a UserError."""
    shapes = list(arch.linear_shapes())
    if target_modules is None or target_modules == "all-linear":
        return tuple(shapes)
    names = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    refused = head_or_embedding_targets(names)
    if refused:
        raise UserError(refusal_message(refused))
    canon = [canonical_name(arch.model_type, n.rsplit(".", 1)[-1]) for n in names]
    unknown = [n for n, c in zip(names, canon) if c not in shapes]
    if unknown:
        from trainers.models.arch_catalog import MODULE_ALIASES
        offered = sorted(set(shapes) | set(MODULE_ALIASES.get(arch.model_type, {})))
        raise UserError(f"LoRA target(s) {unknown} are not linear layers of a {arch.model_type} model; "
                        f"use 'all-linear' or some of: {', '.join(offered)}")
    return tuple(s for s in shapes if s in canon)


def resolve_trainable(model, method: str, lora_r: int | None = None) -> TrainableSet:
    """Read the trainable set back from a built (possibly peft-wrapped) model."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    model_type = base.config.model_type
    head, embed = base.get_output_embeddings(), base.get_input_embeddings()
    head_trains = head is not None and any(p.requires_grad for p in head.parameters())
    embed_trains = embed is not None and any(p.requires_grad for p in embed.parameters())
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if method == "full":
        return TrainableSet(method, None, (), head_trains, embed_trains, trainable_params)
    adapted, wrapped_special = set(), []
    for name, module in base.named_modules():
        if not hasattr(module, "lora_A"):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if module is head or module is embed or leaf in HEAD_OR_EMBEDDING_NAMES:
            wrapped_special.append(leaf)
        else:
            adapted.add(canonical_name(model_type, leaf))
    if wrapped_special or head_trains or embed_trains:
        raise UserError(refusal_message(sorted(set(wrapped_special)) or ["(head/embedding trainable)"]))
    shapes = list(ArchSpec.from_hf_config(base.config).linear_shapes())
    unknown = sorted(adapted - set(shapes))
    if unknown:
        raise UserError(f"LoRA adapted {unknown} in a {model_type} model, which kdtune's FLOP counter "
                        f"does not know as block linears ({', '.join(shapes)}); list targets explicitly")
    return TrainableSet(method, lora_r, tuple(s for s in shapes if s in adapted), False, False, trainable_params)
