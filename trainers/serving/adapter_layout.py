"""Does a run's adapter/ directory have the layout vLLM's LoRA loader expects?

vLLM (`--enable-lora --lora-modules name=DIR`, or LoRARequest) reads a PEFT directory itself:
  * adapter_config.json: peft_type LORA, r, lora_alpha, target_modules (the linear layers adapted);
    bias "none" (vLLM adds no adapter biases); modules_to_save, when present, only the output head
    or the embeddings it declares;
  * adapter_model.safetensors holding `base_model.model.<module path>.lora_A.weight` (r x in) and
    `.lora_B.weight` (out x r) for each adapted module, every leaf name among target_modules, and
    no embedding or lm_head weights unless the config declares them.
kdtune writes exactly that (peft's save_pretrained, LoRA on the head/embeddings refused at config
validation); this check reads the files back, so a client is told before serving, not by vLLM.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")
HEAD_OR_EMBEDDING = ("lm_head", "embed_tokens", "wte", "embed_in", "embed_out")


def check_vllm_layout(adapter_dir: Path) -> dict:
    """{"ok", "problems": [...], "modules": sorted leaf names, "r", "tensors"} for `adapter_dir`."""
    from safetensors import safe_open
    adapter_dir = Path(adapter_dir)
    problems: list[str] = []
    cfg_file, weights = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    for f in (cfg_file, weights):
        if not f.is_file():
            problems.append(f"missing {f.name}")
    if problems:
        return {"ok": False, "problems": problems, "modules": [], "r": None, "tensors": 0}
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    if cfg.get("peft_type") != "LORA":
        problems.append(f"peft_type is {cfg.get('peft_type')!r}, vLLM serves LORA adapters")
    if cfg.get("bias", "none") != "none":
        problems.append(f"bias={cfg.get('bias')!r}: vLLM adds no adapter biases")
    if cfg.get("use_dora"):
        problems.append("use_dora: DoRA magnitude vectors are not served by vLLM's LoRA kernels")
    targets = cfg.get("target_modules")
    declared = set(targets) if isinstance(targets, list) else set()
    saved = set(cfg.get("modules_to_save") or [])
    if saved - set(HEAD_OR_EMBEDDING):
        problems.append(f"modules_to_save {sorted(saved - set(HEAD_OR_EMBEDDING))}: vLLM only replaces the "
                        f"output head or embeddings")
    r, pairs, n = cfg.get("r"), {}, 0
    with safe_open(str(weights), "pt") as f:
        for key in f.keys():
            n += 1
            m = KEY.match(key)
            if m is None:
                problems.append(f"tensor {key!r} is not a lora_A/lora_B weight under base_model.model.")
                continue
            leaf = m["module"].rsplit(".", 1)[-1]
            if leaf in HEAD_OR_EMBEDDING and leaf not in declared | saved:
                problems.append(f"{key}: {leaf} weights without the config declaring {leaf}")
            elif declared and not any(m["module"] == t or m["module"].endswith("." + t) for t in declared):
                # peft's rule: a target names a module by its full path or a dotted suffix of it
                problems.append(f"{key}: module {m['module']} is not among target_modules")
            shape = f.get_slice(key).get_shape()
            rank_dim = shape[0] if m["ab"] == "A" else shape[1]
            if rank_dim != r:
                problems.append(f"{key}: shape {shape} does not have rank r={r}")
            pairs.setdefault(m["module"], set()).add(m["ab"])
    for module, ab in pairs.items():
        if ab != {"A", "B"}:
            problems.append(f"{module}: has lora_{''.join(sorted(ab))} without its pair")
    return {"ok": not problems, "problems": problems, "r": r, "tensors": n,
            "modules": sorted({m.rsplit(".", 1)[-1] for m in pairs})}
