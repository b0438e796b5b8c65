"""README.md for an export: what the client received, read from the run's own records.

Every figure comes from a file the run wrote (manifest.json, config.yaml, compute.json, eval.json,
the data's datacard.json when it was prepared by `kdtune data prepare`) or from the export's check;
a record that is absent is said to be absent, never guessed.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _base(manifest: dict, cfg: dict) -> list[str]:
    prov = manifest.get("model_provenance") or {}
    path = cfg.get("model", {}).get("path")
    lines = [f"- Base model: `{prov.get('upstream') or path}` (loaded as `{path}`)"]
    if prov:
        lines.append(f"- Weights came from: {prov.get('package') or prov.get('gguf_path')} "
                     f"{prov.get('package_version', '')} — {prov.get('gguf_file')} ({prov.get('quantisation')}, "
                     f"sha256 {str(prov.get('gguf_sha256'))[:16]}…); {prov.get('note', '')}".rstrip("; "))
        lines.append(f"- Licence: {prov.get('licence')} ({prov.get('licence_url')}). The fine-tuned weights are a "
                     f"derivative of the base model and carry its licence terms.")
    else:
        lines.append("- Licence: that of the base model (see its model card); kdtune recorded no package provenance.")
    return lines


def _method(manifest: dict, cfg: dict) -> list[str]:
    lora, train, data = cfg.get("lora", {}), cfg.get("train", {}), cfg.get("data", {})
    method = manifest.get("method", "?")
    lines = [f"- Method: {method}, recipe `{cfg.get('recipe')}`, chat format `{manifest.get('chat_format')}`"]
    if lora.get("enabled"):
        lines.append(f"- LoRA: r={lora.get('r')}, alpha={lora.get('alpha')}, dropout={lora.get('dropout')}, "
                     f"targets {lora.get('target_modules')}")
    lines.append(f"- Training: {train.get('max_steps') or train.get('epochs')} "
                 f"{'steps' if train.get('max_steps') else 'epochs'}, lr {train.get('lr')}, micro-batch "
                 f"{train.get('micro_batch_size')} × accumulation {train.get('grad_accum')}, max_seq_len "
                 f"{data.get('max_seq_len')}, seed {train.get('seed')}")
    result = manifest.get("result") or {}
    if result:
        loss = {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in result.items()}
        lines.append(f"- Loss: first {loss.get('first_loss')}, last {loss.get('last_loss')}, "
                     f"validation {loss.get('eval_loss')} after {result.get('steps')} steps")
    lines.append("- The full resolved configuration is `config.yaml` in the run directory.")
    return lines


def _data(manifest: dict, cfg: dict) -> list[str]:
    counts = manifest.get("data") or {}
    lines = [f"- Data: `{cfg.get('data', {}).get('path')}` (file sha256 {str(counts.get('train_sha256'))[:16]}…)",
             f"- Rows read {counts.get('rows_read')}, skipped {counts.get('rows_skipped')}; training examples "
             f"{counts.get('train_examples')}, validation {counts.get('eval_examples')}; "
             f"{counts.get('train_target_tokens')} target tokens"]
    train_file = Path(counts.get("train_file", ""))
    card = _read(train_file.parent / "datacard.json") if counts.get("train_file") else None
    if card is None:
        readme = train_file.parent / "README.md"
        lines.append("- No datacard.json beside the training file: the data was not prepared by `kdtune data "
                     "prepare`, so no PII removal or deduplication is recorded for it."
                     + (f" Its README: {readme}" if readme.is_file() else ""))
        return lines
    c = card.get("counts", {})
    sources = ", ".join(f"`{Path(i['path']).name}` ({i['format']})" for i in card.get("inputs", []))
    lines.append(f"- Sources: {sources}; rows in {c.get('in')}, kept {c.get('kept')}, quarantined "
                 f"{c.get('quarantined_total')}, filtered {c.get('filtered_total')}")
    dd = card.get("dedup", {})
    lines.append(f"- Deduplication: exact {dd.get('exact')} ({c.get('duplicates_exact')} removed), near "
                 f"{dd.get('near')} at {dd.get('near_threshold')} ({c.get('duplicates_near')} removed)")
    pii = card.get("pii", {})
    if pii.get("enabled"):
        kinds = ", ".join(f"{k} {n}" for k, n in pii.get("counts", {}).items() if n) or "none found"
        lines.append(f"- Personal data ({pii.get('mode')}): {pii.get('total')} spans in {pii.get('rows_with_pii')} "
                     f"rows — {kinds}; rows dropped {pii.get('rows_dropped')}")
    else:
        lines.append("- Personal data: PII redaction was OFF when this data was prepared")
    return lines


def _eval(ev: dict | None) -> list[str]:
    if ev is None:
        return ["No eval.json in the run: this model was not evaluated by `kdtune run eval`."]
    lo, hi = ev.get("ci95", [None, None])
    lines = [f"Dataset `{ev.get('dataset')}` ({ev.get('description', '')}), n={ev.get('n')}, "
             f"{ev.get('interval', 'wilson')} 95% intervals, chance {ev.get('chance')}.", "",
             "| slice | n | accuracy | 95% interval |", "|---|---:|---:|---|",
             f"| all | {ev.get('n')} | {_pct(ev['accuracy'])} | {_pct(lo)}–{_pct(hi)} |"]
    for name, row in (ev.get("per_category") or {}).items():
        lines.append(f"| {name} | {row['n']} | {_pct(row['accuracy'])} | {_pct(row['ci95'][0])}–{_pct(row['ci95'][1])} |")
    return lines


def _compute(compute: dict | None) -> list[str]:
    if compute is None:
        return ["- No compute.json in the run."]
    t = compute.get("totals", {})
    return [f"- {compute.get('tokens')} tokens on {compute.get('gpu')} ({compute.get('device')}), "
            f"{t.get('pflops', 0):.4f} PFLOP, {t.get('device_hours', 0):.3f} device-hours "
            f"({compute.get('seconds_basis', 'device seconds')}), MFU {_pct(compute.get('mfu') or 0)}",
            f"- Cost: {t.get('cost_krw', 0):.1f} KRW at {compute.get('price_krw_per_hour')} KRW/hour "
            f"({compute.get('price_basis')})"]


def _load(files: dict, check: dict | None) -> list[str]:
    lines = ["```python", "from transformers import AutoModelForCausalLM, AutoTokenizer"]
    if "gguf" in files:
        name = Path(files["gguf"]).name
        lines += ["# transformers: the GGUF, dequantised",
                  f'model = AutoModelForCausalLM.from_pretrained(".", gguf_file="{name}")',
                  f'tokenizer = AutoTokenizer.from_pretrained(".", gguf_file="{name}")']
    if "adapter" in files:
        lines += ["# peft: the LoRA adapter on its base model (the base named above)",
                  "from peft import PeftModel",
                  f'base_model = AutoModelForCausalLM.from_pretrained("{files.get("base", "BASE_MODEL_DIR")}")',
                  f'model = PeftModel.from_pretrained(base_model, "{files["adapter"]}")',
                  f'tokenizer = AutoTokenizer.from_pretrained("{files["adapter"]}")   # carries the chat template']
    lines.append("```")
    if "gguf" in files:
        name = Path(files["gguf"]).name
        lines += ["", "llama.cpp / Ollama:", "```sh", f"llama-cli -m {name} --jinja -cnv",
                  f"# Ollama: a Modelfile with `FROM ./{name}`, then `ollama create mymodel -f Modelfile`",
                  "```", "", "vLLM serves the merged model directory or the adapter "
                  "(`vllm serve BASE --enable-lora --lora-modules mine=ADAPTER_DIR`), see docs/export.md."]
    if check:
        lines += ["", "Checked on export (Korean probe texts, logits against the merged fp32 model):"]
        for reader in ("transformers", "llama_cpp"):
            r = check.get(reader, {})
            if "skipped" in r:
                lines.append(f"- {reader}: not checked ({r['skipped']})")
            elif r:
                lines.append(f"- {reader}: max |Δlogit| {r['max_abs_dlogit']:.4g}, argmax agreement "
                             f"{_pct(r['argmax_agree'])} ({r['positions']} positions), token ids "
                             f"{'identical' if r['token_ids_identical'] else 'different'}")
    return lines


LIMITS = [
    "- Trained for one domain task on a small labelled set: outside it, expect the base model's behaviour.",
    "- Accuracy figures hold for the evaluation set above; the interval is the sampling uncertainty of that set only.",
    "- A GGUF in q8_0 rounds weights to 8-bit blocks: its outputs differ slightly from the merged model's (see the check).",
    "- Use the chat format the model was trained with (the file's chat template); other layouts lower accuracy.",
]


def model_card(run: Path, files: dict, check: dict | None = None) -> str:
    """The card's Markdown for `run`; `files` names what the export holds ({"gguf": ..., "adapter": ...})."""
    run = Path(run)
    manifest = _read(run / "manifest.json") or {}
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    title = f"# {run.name}: {manifest.get('method', 'fine-tuned')} {cfg.get('model', {}).get('path')} (kdtune)"
    parts = [title, "", cfg.get("description") or "", "", "## Base model and licence", *_base(manifest, cfg),
             "", "## Method", *_method(manifest, cfg), "", "## Data", *_data(manifest, cfg),
             "", "## Evaluation", *_eval(_read(run / "eval.json")), "", "## Compute and cost",
             *_compute(_read(run / "compute.json")), "", "## Known limits", *LIMITS, "", "## How to load",
             *_load(files, check), "", f"Generated by kdtune from run `{run}` (git {manifest.get('git_sha')})."]
    return "\n".join(parts).replace("\n\n\n", "\n\n") + "\n"


def write_card(out_dir: Path, run: Path, files: dict, check: dict | None = None) -> Path:
    path = Path(out_dir) / "README.md"
    path.write_text(model_card(run, files, check), encoding="utf-8")
    return path
