"""`kdtune export`: a finished run packaged for on-premise serving.

    kdtune export gguf --run runs/<name> --out out/model.gguf --dtype q8_0 [--check]
    kdtune export card --run runs/<name> --out out/

`gguf` writes one GGUF file (merged weights, tokenizer, chat template) for llama.cpp / Ollama and a
model card (README.md) beside it; --check then loads the file with transformers' GGUF reader and
with llama.cpp (llama-cpp-python, if installed) and compares tokenisation and logits with the merged
model, writing <file>.check.json. `card` writes only the card (for an adapter or merged/ delivery).
Both check the adapter against the layout vLLM's LoRA loader expects and say so in the card.
"""
from __future__ import annotations

import json
from pathlib import Path

from trainers.errors import UserError


def _adapter_files(run: Path) -> dict:
    from trainers.serving.adapter_layout import check_vllm_layout
    adapter = run / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        return {}
    layout = check_vllm_layout(adapter)
    if not layout["ok"]:
        shown = layout["problems"][:5] + ([f"... {len(layout['problems']) - 5} more"] if len(layout["problems"]) > 5 else [])
        print("adapter/ does not follow vLLM's LoRA layout:\n  " + "\n  ".join(shown))
    if not layout["ok"]:
        return {}
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return {"adapter": str(adapter), "base": str(manifest.get("model_source") or "BASE_MODEL_DIR")}


def cmd_gguf(args) -> int:
    from trainers.serving.gguf_export import export_run
    from trainers.serving.model_card import write_card
    run, out = Path(args.run).expanduser(), Path(args.out).expanduser()
    if out.suffix != ".gguf":
        raise UserError(f"--out {out}: name the file to write, ending in .gguf")
    summary, source = export_run(run, out, args.dtype)
    print(f"wrote {out} ({summary['bytes'] / 1e6:.1f} MB, {summary['dtype']}, {summary['architecture']}, "
          f"tokenizer {summary['tokenizer_model']}/{summary['pre_tokenizer']}) from {summary['weights']}")
    check = None
    if args.check:
        from trainers.serving.gguf_check import brief, check_export, write_check
        check = {**check_export(out, source.model, source.tokenizer), "export": summary}
        write_check(check, out.with_name(out.name + ".check.json"))
        print("check:\n" + brief(check))
    card = write_card(out.parent, run, {"gguf": str(out), **_adapter_files(run)},
                      check and {k: check[k] for k in ("transformers", "llama_cpp")})
    print(f"wrote {card}")
    return 0


def cmd_card(args) -> int:
    from trainers.serving.model_card import write_card
    run, out = Path(args.run).expanduser(), Path(args.out).expanduser()
    if not (run / "manifest.json").is_file():
        raise UserError(f"--run {run}: no manifest.json (not a finished run directory)")
    out.mkdir(parents=True, exist_ok=True)
    check_file = next(iter(sorted(out.glob("*.gguf.check.json"))), None)
    check = json.loads(check_file.read_text(encoding="utf-8")) if check_file else None
    files = {**({"gguf": str(check["file"])} if check else {}), **_adapter_files(run)}
    print(f"wrote {write_card(out, run, files, check)}")
    return 0


def register(sub) -> None:
    e = sub.add_parser("export", help="package a finished run for serving (GGUF, model card)",
                       description="Package a finished run for on-premise serving: a GGUF file for "
                                   "llama.cpp/Ollama and a model card. See docs/export.md.")
    esub = e.add_subparsers(dest="what", required=True, metavar="WHAT")
    g = esub.add_parser("gguf", help="merged weights + tokenizer + chat template in one GGUF file",
                        description="Write the run's merged model (merging its adapter when it has no "
                                    "merged/) as one GGUF file, and README.md (the model card) beside it.")
    g.add_argument("--run", required=True, help="finished run directory (runs/<name>)")
    g.add_argument("--out", required=True, help="GGUF file to write (its directory must exist)")
    g.add_argument("--dtype", choices=["f16", "q8_0"], default="f16",
                   help="weight storage: f16 (half precision) or q8_0 (8-bit blocks, half the size); "
                        "vectors (norms, biases) stay f32")
    g.add_argument("--check", action="store_true",
                   help="load the file with transformers and llama.cpp and compare token ids and logits "
                        "with the merged model (writes OUT.check.json)")
    g.set_defaults(func=cmd_gguf)
    c = esub.add_parser("card", help="write the model card (README.md) for a run",
                        description="Write README.md: base model and licence, method, data, evaluation "
                                    "with intervals, compute and cost, limits, how to load.")
    c.add_argument("--run", required=True, help="finished run directory (runs/<name>)")
    c.add_argument("--out", required=True, help="directory to write README.md into (created)")
    c.set_defaults(func=cmd_card)
