"""A finished run -> one GGUF file (weights, tokenizer, chat template) that llama.cpp and Ollama load.

    kdtune export gguf --run runs/<name> --out out/model.gguf --dtype f16|q8_0 [--check]

The weights are the run's merged model: merged/ when the run wrote one, model/ for a full
fine-tune, else the adapter merged into its (unquantised, fp32) base here, as merge_adapter does.
The tokenizer and chat template come from the directory the run saved with its weights, so the
file prompts the model in the format it was trained with (trainers.data.chat_templates). The file is
written next to its final name and renamed into place: a failed export leaves no half file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from trainers.errors import UserError
from trainers.serving.gguf_arch import DTYPES, arch_of, gguf_tensors, model_arch, stored, write_hparams
from trainers.serving.gguf_vocab import write_vocab


@dataclass
class Source:
    """The merged model an export converts, and where it came from."""
    model: object
    tokenizer: object
    weights: str            # what was converted, in words (for the card and the check record)
    tokenizer_dir: Path     # the directory whose tokenizer (and chat format file) was used
    manifest: dict
    config: object          # the run's typed config


def _tokenizer(path: Path):
    from trainers.models.model_builder import tokenizer_loader
    return tokenizer_loader(str(path)).from_pretrained(str(path))


def load_source(run: Path) -> Source:
    """The run's merged model in fp32 on CPU, its tokenizer, manifest and config."""
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.config.loader import load_config
    run = Path(run).expanduser()
    if not (run / "config.yaml").is_file():
        raise UserError(f"--run {run}: not a run directory (no config.yaml)")
    if not (run / "manifest.json").is_file():
        raise UserError(f"--run {run}: the run has no manifest.json — it did not finish; export a finished run")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    cfg = load_config(run / "config.yaml")
    for sub, what in (("merged", "merged/ (the run's merged weights)"), ("model", "model/ (full fine-tune)")):
        if (run / sub / "config.json").is_file():
            model = AutoModelForCausalLM.from_pretrained(run / sub, dtype=torch.float32)
            return Source(model.eval(), _tokenizer(run / sub), what, run / sub, manifest, cfg)
    adapter = run / "adapter"
    if (adapter / "adapter_config.json").is_file():
        from trainers.export import merged_model
        model = merged_model(cfg.model, adapter)
        return Source(model.eval(), _tokenizer(adapter), "adapter/ merged into its base in fp32 for this export",
                      adapter, manifest, cfg)
    raise UserError(f"--run {run} has no merged/, model/ or adapter/ to export")


def _eot_id(tokenizer_dir: Path, tokenizer) -> int | None:
    """The end-of-turn token the run's chat format stops on, when it is not EOS (Gemma's <end_of_turn>)."""
    from trainers.data.chat_templates import FORMAT_FILE
    file = tokenizer_dir / FORMAT_FILE
    if not file.is_file():
        return None
    ids = [i for i in json.loads(file.read_text(encoding="utf-8"))["stop_token_ids"] if i != tokenizer.eos_token_id]
    return ids[0] if ids else None


def write_gguf(model, tokenizer, out: Path, dtype: str, *, name: str, licence: str | None = None,
               eot_id: int | None = None) -> dict:
    """Write `model` + `tokenizer` to `out` (atomically); -> a summary of what was written."""
    import gguf
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    config = model.config
    arch = arch_of(config)
    if config.vocab_size != len(tokenizer):
        raise UserError(f"the model has {config.vocab_size} embedding rows but its tokenizer {len(tokenizer)} "
                        f"tokens; llama.cpp needs one row per token")
    out = Path(out).expanduser()
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: directory {out.parent} does not exist; create it first")
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    w = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[model_arch(arch)])
    try:
        w.add_name(name)
        if licence:
            w.add_license(licence)
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
        if dtype == "q8_0":
            w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        write_hparams(w, config, arch)
        vocab = write_vocab(w, tokenizer, getattr(tokenizer, "chat_template", None), eot_id)
        counts: dict[str, int] = {}
        for tname, data in gguf_tensors(model.state_dict(), config, arch):
            array, qtype = stored(data, dtype)
            w.add_tensor(tname, array, raw_dtype=qtype)
            counts[qtype.name] = counts.get(qtype.name, 0) + 1
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        tmp.rename(out)
    finally:
        w.close()
        tmp.unlink(missing_ok=True)
    return {"file": str(out), "bytes": out.stat().st_size, "dtype": dtype, "architecture": arch.gguf_name.lower(),
            "tensors_by_type": counts, "tokenizer_model": vocab["model"], "pre_tokenizer": vocab["pre"],
            "vocab_size": len(vocab["tokens"])}


def export_run(run: Path, out: Path, dtype: str, source: Source | None = None) -> tuple[dict, Source]:
    """The run's merged model as a GGUF at `out`; -> (summary, the source it converted)."""
    source = source or load_source(run)
    prov = source.manifest.get("model_provenance") or {}
    name = f"{Path(run).name} ({source.manifest.get('method', 'fine-tune')} of {source.config.model.path})"
    summary = write_gguf(source.model, source.tokenizer, out, dtype, name=name, licence=prov.get("licence"),
                         eot_id=_eot_id(source.tokenizer_dir, source.tokenizer))
    return {**summary, "run": str(run), "weights": source.weights}, source
