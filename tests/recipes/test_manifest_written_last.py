"""manifest.json means "this run is complete", so it is written after everything it vouches for:
at the moment it is written, the adapter, the merged model and compute.json are already whole on
disk (their files exist with their final sizes), and no output file is newer than it."""
import json
from pathlib import Path

from recipes.cli import main
from trainers.run.run_dir import RunDir


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


def test_manifest_is_written_after_adapter_merged_model_and_compute(tmp_path, monkeypatch):
    run = tmp_path / "r"
    at_manifest = {}
    write_text = RunDir.write_text

    def spy(self, name, text):   # records what the run directory held when the manifest was written
        if name == "manifest.json":
            at_manifest.update(files_under(self.path))
        return write_text(self, name, text)

    monkeypatch.setattr(RunDir, "write_text", spy)
    code = main(["run", "sft", "--config", "smoke/tiny_lora.yaml", "train.max_steps=2", "train.save_every=0",
                 "data.max_seq_len=128", "eval.max_batches=1", "output.merge=true",
                 f"output.dir={tmp_path}", "output.name=r"])
    assert code in (0, None)
    assert at_manifest, "the manifest was not written through RunDir"
    final = files_under(run)
    outputs = {k: v for k, v in final.items() if k.startswith(("adapter/", "merged/")) or k == "compute.json"}
    assert "adapter/adapter_model.safetensors" in outputs and "merged/config.json" in outputs
    assert {k: at_manifest.get(k) for k in outputs} == outputs     # all there, whole, before the manifest
    manifest_time = (run / "manifest.json").stat().st_mtime_ns
    assert all((run / k).stat().st_mtime_ns <= manifest_time for k in outputs)
    assert json.loads((run / "manifest.json").read_text())["outputs"]["trained"].endswith("adapter")
    # the chat format travels with both exports, and the merged tokenizer's template asks the trained prompt
    from transformers import AutoTokenizer
    from trainers.data.chat_format import generation_prompt
    from trainers.data.chat_templates import saved_chat_format
    fmt = json.loads((run / "manifest.json").read_text())["chat_format"]
    assert saved_chat_format(run / "adapter") == saved_chat_format(run / "merged") == fmt == "r1"
    tok = AutoTokenizer.from_pretrained(run / "merged")
    chat = [{"role": "user", "content": "부가세는?"}]
    assert tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == \
        tok.decode(generation_prompt(chat, tok, fmt), skip_special_tokens=False)
