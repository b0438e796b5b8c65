"""A smaller student made from its teacher: keep a subset of the decoder layers.

Distillation needs a student that already speaks the teacher's vocabulary; the cheapest one is the
teacher itself with layers removed (as DistilBERT and "shortened LLaMA" pruning do): embeddings,
final norm and head are kept, and every kept layer keeps its trained weights. What the removed
layers did is then recovered by training — with the teacher's logits (KD) or the labels alone (SFT).

`model.keep_layers` in a config names the layers (0-based list) or a count; a count keeps evenly
spaced layers that always include the first and the last (the first turns embeddings into the
residual stream the others expect; the last feeds the head).
"""
from __future__ import annotations

import copy

import torch

from trainers.errors import UserError


def evenly_spaced(n_layers: int, keep: int) -> list[int]:
    """`keep` layer indices out of `n_layers`, spread evenly, first and last included."""
    if not 1 <= keep <= n_layers:
        raise UserError(f"model.keep_layers={keep}: the model has {n_layers} layers; keep 1..{n_layers}")
    if keep == 1:
        return [n_layers - 1]
    return sorted({round(i * (n_layers - 1) / (keep - 1)) for i in range(keep)})


def resolve_keep(keep: int | list[int], n_layers: int) -> list[int]:
    """Normalise the config value to a sorted list of distinct valid indices."""
    if isinstance(keep, int):
        return evenly_spaced(n_layers, keep)
    idx = sorted(set(int(i) for i in keep))
    bad = [i for i in idx if not 0 <= i < n_layers]
    if not idx or bad:
        raise UserError(f"model.keep_layers={list(keep)}: indices must lie in 0..{n_layers - 1} "
                        f"(the model has {n_layers} layers)" + (f"; out of range: {bad}" if bad else ""))
    return idx


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The ModuleList of decoder blocks of a transformers causal LM (Qwen2, Llama, Gemma 3, ...)."""
    inner = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise UserError(f"model.keep_layers: cannot find the decoder layers of {type(model).__name__}")
    return layers


def keep_layers(model: torch.nn.Module, keep: int | list[int]) -> list[int]:
    """Remove every decoder layer not in `keep`, in place; returns the kept original indices.

    The config is updated (num_hidden_layers, and the per-layer `layer_types` — Gemma 3's
    sliding/global pattern — so each kept layer keeps its own attention span), and each kept
    attention module is renumbered so the KV cache of generation addresses the right slot."""
    layers = decoder_layers(model)
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    idx = resolve_keep(keep, len(layers))
    kept = torch.nn.ModuleList([layers[i] for i in idx])
    inner = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    inner.layers = kept
    layer_types = getattr(config, "layer_types", None)
    config.num_hidden_layers = len(idx)
    if layer_types is not None:
        config.layer_types = [layer_types[i] for i in idx]
    for new_i, layer in enumerate(kept):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_i
    return idx


def shrunk_copy(model: torch.nn.Module, keep: int | list[int]) -> tuple[torch.nn.Module, list[int]]:
    """A deep copy of `model` with only the kept layers (the teacher itself is left untouched)."""
    student = copy.deepcopy(model)
    return student, keep_layers(student, keep)
